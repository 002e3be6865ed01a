"""Is a difference between two models real, or noise? A paired bootstrap over the examples.

Two models are scored on the *same* lines, so their results are paired: line ``i`` is right
for A (``a_i = 1``) or not, and for B (``b_i``). The difference of their exact match is
``mean_i (a_i - b_i)``. Resampling the lines with replacement ``R`` times (Efron and Tibshirani
1993; Koehn 2004 for machine translation) gives ``R`` such differences; the middle 95% of them
is the interval. A difference whose interval holds 0 is within the noise of this test set:
the chapters call a model better only when the interval lies above 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Difference:
    """``A - B`` with its paired-bootstrap interval.

    Attributes:
        a, b: the two scores (means over the lines), e.g. exact match in ``[0, 1]``.
        difference: ``a - b``.
        low, high: the interval's ends (``level`` of the resampled differences between them).
        level: the interval's coverage, 0.95 by default.
        n: the number of paired lines.
    """

    a: float
    b: float
    difference: float
    low: float
    high: float
    level: float
    n: int

    @property
    def clear(self) -> bool:
        """True when the interval excludes 0: the difference stands clear of the noise."""
        return self.low > 0 or self.high < 0

    def verdict(self, name_a: str = "A", name_b: str = "B") -> str:
        """One sentence that follows the interval (for the chapters' text); the difference is
        given in favour of the model it names first."""
        def span(sign: float) -> str:
            low, high = sorted((sign * self.low, sign * self.high))
            return (f"{sign * self.difference:+.1%} (95% interval {low:+.1%} to {high:+.1%}, "
                    f"{self.n:,} lines)")
        if self.low > 0:
            return f"{name_a} is better than {name_b}: {span(1.0)}."
        if self.high < 0:
            return f"{name_b} is better than {name_a}: {span(-1.0)}."
        return f"{name_a} and {name_b} are within the noise of each other: {span(1.0)}."


def paired_bootstrap(a: Sequence[float], b: Sequence[float], resamples: int = 2000,
                     level: float = 0.95, seed: int = 0) -> Difference:
    """The difference ``mean(a) - mean(b)`` of two paired per-line scores, with a bootstrap
    interval.

    Args:
        a, b: per-line scores of models A and B on the same lines (``1.0`` right, ``0.0``
            wrong for exact match; any per-line number works).
        resamples: ``R``, the number of bootstrap samples.
        level: the interval's coverage.
        seed: seeds the resampling (the same inputs give the same interval).

    Raises:
        ValueError: for lists of different lengths or empty lists.
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"need two equally long, non-empty lists of scores, got {len(a)} and "
                         f"{len(b)}")
    diff = torch.tensor(a, dtype=torch.float64) - torch.tensor(b, dtype=torch.float64)  # [n]
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(len(diff), (resamples, len(diff)), generator=generator)  # [R, n]
    means = diff[rows].mean(dim=1)  # [R] resampled mean differences
    tail = (1.0 - level) / 2
    low, high = torch.quantile(means, torch.tensor([tail, 1.0 - tail], dtype=torch.float64))
    return Difference(float(torch.tensor(a, dtype=torch.float64).mean()),
                      float(torch.tensor(b, dtype=torch.float64).mean()), float(diff.mean()),
                      float(low), float(high), level, len(diff))
