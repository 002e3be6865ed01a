"""An exponential moving average of a model's weights (chapter 9).

Training moves the weights ``theta`` a little after every batch; their recent average
``theta_bar`` usually generalises better than the last point of the noisy path (Polyak and
Juditsky 1992). After update ``n``:

    theta_bar <- d_n theta_bar + (1 - d_n) theta,    d_n = min(d, (1 + n) / (10 + n))

The warm-up ``(1 + n) / (10 + n)`` (TensorFlow's ``ExponentialMovingAverage`` with
``num_updates``) keeps the first updates from weighing the random initial weights for long.
With ``d = 0.999`` and 250 batches an epoch, the average spans about four epochs.

The average is a shadow: training never reads it, so the run's path (its losses, its
learning-rate schedule) is that of the same run without it. Evaluation swaps it in
(:meth:`WeightAverage.applied`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class WeightAverage:
    """The exponential moving average ``theta_bar`` of ``model``'s parameters.

    Args:
        model: the model whose parameters are averaged (buffers are not: the course's models
            have none that training changes).
        decay: ``d`` in ``(0, 1)``; closer to 1 averages over more updates.
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the average's decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.params = list(model.parameters())
        self.shadow = [p.detach().clone() for p in self.params]  # theta_bar, one per theta

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average, after an optimizer step."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))  # d_n
        # theta_bar + (1 - d_n) (theta - theta_bar) = d_n theta_bar + (1 - d_n) theta
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - d)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """``with average.applied():`` the model holds ``theta_bar``; its own weights are
        back afterwards, also on error."""
        kept = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, s in zip(self.params, self.shadow, strict=True):
                p.copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, k in zip(self.params, kept, strict=True):
                    p.copy_(k)

    def state_dict(self) -> dict:
        """What ``last.pt`` keeps to resume the average: decay, update count, ``theta_bar``."""
        return {"decay": self.decay, "updates": self.updates,
                "shadow": [s.detach().cpu().clone() for s in self.shadow]}

    def load_state_dict(self, state: dict) -> None:
        if len(state["shadow"]) != len(self.shadow):
            raise ValueError("the saved average holds another number of parameters")
        self.decay, self.updates = state["decay"], state["updates"]
        with torch.no_grad():
            for s, saved in zip(self.shadow, state["shadow"], strict=True):
                s.copy_(saved)
