"""The interface that every architecture of the course shares (d2l's Encoder / Decoder /
EncoderDecoder, with bentrevett's shape comments).

An :class:`Encoder` reads the English ids ``x_1 .. x_S`` and returns an :class:`EncoderOutput`:
every encoder state ``h_1 .. h_S``, the decoder's initial state, and the mask of real
positions. A :class:`Decoder` makes one step: from the previous token ``y_{t-1}`` and its state
it returns the scores over the code vocabulary for ``y_t``. :class:`Seq2Seq` runs the two over a
whole target sequence, with teacher forcing.

Shapes: ``B`` batch, ``S`` source length, ``T`` target length, ``E`` embedding size, ``H``
hidden size, ``V`` target vocabulary size.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from seq2code.vocab import PAD_ID

TF_MODES = ("step", "sequence")


class EncoderOutput(NamedTuple):
    """What an encoder hands to the decoder.

    Attributes:
        outputs: ``[B, S, H]`` every encoder state ``h_1 .. h_S`` (zeros at padding).
        state: the decoder's initial state: ``[layers, B, H]`` for an RNN, a tuple
            ``(h, c)`` of two such tensors for an LSTM.
        mask: ``[B, S]`` bool, True at real (non-pad) source positions.
    """

    outputs: torch.Tensor
    state: Any
    mask: torch.Tensor


class DecoderStep(NamedTuple):
    """One decoding step.

    Attributes:
        logits: ``[B, V]`` unnormalised scores of the next token ``y_t``.
        state: the decoder's state after the step (pass it to the next step).
        attention: ``[B, S]`` attention weights ``alpha_t`` over the source, or None for a
            model without attention.
    """

    logits: torch.Tensor
    state: Any
    attention: torch.Tensor | None


class DecoderRun(NamedTuple):
    """Several decoding steps on known inputs (teacher forcing).

    Attributes:
        logits: ``[B, K, V]`` scores of the next token at each of the ``K`` steps.
        state: the decoder's state after the last step.
        attention: ``[B, K, S]`` attention weights, or None.
    """

    logits: torch.Tensor
    state: Any
    attention: torch.Tensor | None


class Seq2SeqOutput(NamedTuple):
    """The output of :meth:`Seq2Seq.forward`.

    Attributes:
        logits: ``[B, T, V]`` scores of ``y_1 .. y_T`` (score them against ``Batch.tgt_out``).
        attention: ``[B, T, S]`` attention weights of every step, or None.
    """

    logits: torch.Tensor
    attention: torch.Tensor | None


class Encoder(nn.Module):
    """Reads ``src`` ``[B, S]`` with its lengths ``[B]``; returns an :class:`EncoderOutput`."""

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor) -> EncoderOutput:
        raise NotImplementedError


class Decoder(nn.Module):
    """One step of the decoder: ``forward(prev [B], state, enc) -> DecoderStep``."""

    def init_state(self, enc: EncoderOutput) -> Any:
        """The state before the first step, from the encoder's output."""
        return enc.state

    def forward(self, prev: torch.Tensor, state: Any, enc: EncoderOutput) -> DecoderStep:
        raise NotImplementedError

    def forward_sequence(self, inputs: torch.Tensor, state: Any,
                         enc: EncoderOutput) -> DecoderRun:
        """Run the decoder over known inputs ``inputs`` ``[B, K]`` (teacher forcing).

        This default makes one :meth:`forward` call per step; a decoder whose steps do not
        depend on each other's outputs (no attention feeding back) overrides it with one
        call over the whole run, which is about twice as fast.
        """
        logits, attention = [], []
        for k in range(inputs.size(1)):
            step = self(inputs[:, k], state, enc)  # logits [B, V]
            state = step.state
            logits.append(step.logits)
            attention.append(step.attention)
        return DecoderRun(torch.stack(logits, dim=1),  # [B, K, V]
                          state,
                          None if attention[0] is None else torch.stack(attention, dim=1))


class Seq2Seq(nn.Module):
    """An encoder and a decoder run together over a target sequence.

    Attributes:
        kind: the model kind (``"rnn"``, ``"lstm"``, ``"attention"``).
        config: the keyword arguments that rebuild this model with
            :func:`seq2code.models.build_model` (``build_model(**model.config)``).
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, kind: str = "",
                 config: dict | None = None):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.kind = kind
        self.config = dict(config or {})

    def encode(self, src: torch.Tensor, src_lens: torch.Tensor) -> EncoderOutput:
        """Run the encoder: ``src`` ``[B, S]`` ids ``x``, ``src_lens`` ``[B]``."""
        return self.encoder(src, src_lens)

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor, tgt_in: torch.Tensor,
                teacher_forcing: float = 1.0, tf_mode: str = "step",
                generator: torch.Generator | None = None,
                enc: EncoderOutput | None = None) -> Seq2SeqOutput:
        """Score every target position, feeding the decoder gold or predicted tokens.

        Args:
            src: ``[B, S]`` source ids ``x_1 .. x_S``, padded with ``<pad>``.
            src_lens: ``[B]`` real source lengths.
            tgt_in: ``[B, T]`` the decoder's gold input ``<sos> y_1 .. y_{T-1}`` (``Batch.tgt_in``).
            teacher_forcing: probability of feeding the gold token ``y_{t-1}`` instead of the
                model's own previous prediction ``argmax p(y_{t-1})``. The first input is always
                ``<sos>``.
            tf_mode: ``"step"``: one coin per time step, shared by every row of the batch
                (a step is teacher-forced for the whole batch or for none of it); ``"sequence"``:
                one coin per row, which decides for that row's whole sequence.
            generator: the random source of the coins (a CPU ``torch.Generator``; default: the
                global one). With ``teacher_forcing`` 1.0 or 0.0 no coin is drawn, so those
                settings never touch the random state.
            enc: an encoder output computed beforehand (for instance by an unrolled encoder,
                to take gradients along the input); default: ``self.encode(src, src_lens)``.

        Returns:
            :class:`Seq2SeqOutput` with ``logits`` ``[B, T, V]`` and ``attention``
            ``[B, T, S]`` (None without attention).
        """
        if tf_mode not in TF_MODES:
            raise ValueError(f"tf_mode must be one of {TF_MODES}, got {tf_mode!r}")
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must lie in [0, 1], got {teacher_forcing}")
        enc = self.encode(src, src_lens) if enc is None else enc
        state = self.decoder.init_state(enc)
        batch, steps = tgt_in.shape
        size = batch if tf_mode == "sequence" else steps  # one coin per row, or per step
        if teacher_forcing in (0.0, 1.0):
            coins = torch.full((size,), teacher_forcing == 1.0)  # [size] bool, nothing drawn
        else:
            coins = torch.rand(size, generator=generator) < teacher_forcing  # [size] bool

        if tf_mode == "step" or bool(coins.all()) or not bool(coins.any()):
            # Every row makes the same choice at each step.
            step_coins = coins.tolist() if tf_mode == "step" else [bool(coins[0])] * steps
            return self._run_shared(tgt_in, state, enc, step_coins)
        return self._run_per_row(tgt_in, state, enc, coins.to(tgt_in.device))

    def _run_shared(self, tgt_in: torch.Tensor, state: Any, enc: EncoderOutput,
                    coins: list[bool]) -> Seq2SeqOutput:
        """Decode with one teacher-forcing choice per step for the whole batch.

        Consecutive teacher-forced steps are one :meth:`Decoder.forward_sequence` call.
        """
        logits, attention = [], []
        steps = tgt_in.size(1)
        t = 0
        while t < steps:
            if t == 0 or coins[t]:
                end = t + 1
                while end < steps and coins[end]:
                    end += 1
                run = self.decoder.forward_sequence(tgt_in[:, t:end], state, enc)
                step_logits, state, step_attention = run  # [B, K, V], ., [B, K, S]
            else:
                prev = logits[-1][:, -1].argmax(-1)  # [B] the model's own y_{t-1}
                step = self.decoder(prev, state, enc)
                state = step.state
                step_logits = step.logits.unsqueeze(1)  # [B, 1, V]
                step_attention = (None if step.attention is None
                                  else step.attention.unsqueeze(1))  # [B, 1, S]
                end = t + 1
            logits.append(step_logits)
            attention.append(step_attention)
            t = end
        return Seq2SeqOutput(torch.cat(logits, dim=1),  # [B, T, V]
                             None if attention[0] is None else torch.cat(attention, dim=1))

    def _run_per_row(self, tgt_in: torch.Tensor, state: Any, enc: EncoderOutput,
                     row_coins: torch.Tensor) -> Seq2SeqOutput:
        """Decode step by step; row ``b`` reads gold tokens where ``row_coins[b]`` ``[B]``."""
        logits, attention = [], []
        prev = tgt_in[:, 0]  # [B] <sos>
        for t in range(tgt_in.size(1)):
            step = self.decoder(prev, state, enc)
            state = step.state
            logits.append(step.logits)  # [B, V]
            attention.append(step.attention)  # [B, S] or None
            if t + 1 < tgt_in.size(1):
                prev = torch.where(row_coins, tgt_in[:, t + 1], step.logits.argmax(-1))  # [B]
        return Seq2SeqOutput(torch.stack(logits, dim=1),  # [B, T, V]
                             None if attention[0] is None else torch.stack(attention, dim=1))


def on_model_device(model: torch.nn.Module, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``tensors`` moved to the device of ``model``'s parameters (a no-op where they are).

    Batches are built on the CPU; on a GPU runtime the model lives on CUDA, so every decoder
    moves its inputs first.
    """
    parameter = next(model.parameters(), None)
    if parameter is None:  # a model without weights (a scripted one in the tests)
        return tensors
    return tuple(t.to(parameter.device) for t in tensors)


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters, ``sum(p.numel() for p in model.parameters())``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def source_mask(src: torch.Tensor) -> torch.Tensor:
    """``[B, S]`` bool, True at real tokens of ``src`` ``[B, S]`` (False at ``<pad>``)."""
    return src != PAD_ID
