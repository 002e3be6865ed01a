"""The interface that every architecture of the course shares (d2l's Encoder / Decoder /
EncoderDecoder, with bentrevett's shape comments).

An :class:`Encoder` reads the English ids ``x_1 .. x_S`` and returns an :class:`EncoderOutput`:
every encoder state ``h_1 .. h_S``, the decoder's initial state, and the mask of real
positions. A :class:`Decoder` makes one step: from the previous token ``y_{t-1}`` and its state
it returns the scores over the code vocabulary for ``y_t``. :class:`Seq2Seq` runs the two over a
whole target sequence, with teacher forcing.

Shapes: ``B`` batch, ``S`` source length, ``T`` number of decoding steps (the target length, or
the steps of one call), ``E`` embedding size, ``H`` hidden size (of the decoder state ``s_t``),
``H_enc`` size of an encoder state ``h_s``, ``F`` size of the output layer's input, ``V``
target vocabulary size. The symbols are those of the book's notation page: encoder states
``h_s``, decoder state ``s_t`` (the query of step ``t`` is ``s_{t-1}``), LSTM cell ``m_t``,
attention weights ``alpha_{t,s}``, context ``c_t``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
from torch import nn

from seq2code.batching import encode_pairs
from seq2code.vocab import PAD_ID, Vocab

TF_MODES = ("step", "sequence")


class EncoderOutput(NamedTuple):
    """What an encoder hands to the decoder.

    Attributes:
        outputs: ``[B, S, H_enc]`` every encoder state ``h_1 .. h_S`` (zeros at padding).
        state: the decoder's initial state: ``[layers, B, H]`` for an RNN (the last state
            ``h_S``), PyTorch's pair ``(h, c)`` of two such tensors for an LSTM (``h_S`` and
            the last cell ``m_S``).
        mask: ``[B, S]`` bool, True at real (non-pad) source positions.
    """

    outputs: torch.Tensor
    state: Any
    mask: torch.Tensor


class DecoderStep(NamedTuple):
    """One decoding step.

    Attributes:
        logits: ``[B, V]`` unnormalised scores of the next token ``y_t`` (a copy model:
            log-probabilities over its extended vocabulary).
        state: the decoder's state after the step (pass it to the next step).
        attention: ``[B, S]`` attention weights ``alpha_t`` (``alpha_{t,s}`` over the source
            positions ``s``), or None for a model without attention.
        features: ``[B, F]`` what the output layer read (for instance ``[s_t; c_t]``), or None.
    """

    logits: torch.Tensor
    state: Any
    attention: torch.Tensor | None
    features: torch.Tensor | None = None


class FeatureRun(NamedTuple):
    """Several decoding steps on known inputs, before the output layer.

    Attributes:
        features: ``[B, T, F]`` what the output layer reads at each of the ``T`` steps.
        state: the decoder's state after the last step.
        attention: ``[B, T, S]`` attention weights ``alpha_{t,s}``, or None.
    """

    features: torch.Tensor
    state: Any
    attention: torch.Tensor | None


class DecoderRun(NamedTuple):
    """Several decoding steps on known inputs (teacher forcing), with their scores.

    Attributes:
        logits: ``[B, T, V]`` scores of the next token at each of the ``T`` steps.
        state: the decoder's state after the last step.
        attention: ``[B, T, S]`` attention weights ``alpha_{t,s}``, or None.
    """

    logits: torch.Tensor
    state: Any
    attention: torch.Tensor | None


class Seq2SeqOutput(NamedTuple):
    """The output of :meth:`Seq2Seq.forward`.

    Attributes:
        logits: ``[B, T, V]`` scores of ``y_1 .. y_T`` (score them against ``Batch.tgt_out``).
        attention: ``[B, T, S]`` attention weights ``alpha_{t,s}`` of every step, or None.
    """

    logits: torch.Tensor
    attention: torch.Tensor | None


class TargetRun(NamedTuple):
    """:meth:`Seq2Seq.run` over a target sequence: what the output layer reads at every step.

    Attributes:
        features: ``[B, T, F]`` the output layer's input at each step ``t``.
        attention: ``[B, T, S]`` the weights ``alpha_t``, or None.
        enc: the :class:`EncoderOutput` the decoder read.
        decided: ``{t: [B, V]}`` the scores already computed at the steps whose prediction
            was fed back (the next step was not teacher-forced), so that the loss reuses them.
    """

    features: torch.Tensor
    attention: torch.Tensor | None
    enc: Any
    decided: dict[int, torch.Tensor]


class GoldLogProbs(NamedTuple):
    """What the loss reads at ``N`` target positions (:meth:`Decoder.gold_log_probs`).

    Attributes:
        gold: ``[N]`` ``log p(y_t)`` of the gold tokens.
        spread: ``[N]`` ``(1/V) sum_w log p(w)`` over the ``V`` output words (label
            smoothing's term), or None when not asked for.
    """

    gold: torch.Tensor
    spread: torch.Tensor | None


class Encoder(nn.Module):
    """Reads ``src`` ``[B, S]`` with its lengths ``[B]``; returns an :class:`EncoderOutput`."""

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor) -> EncoderOutput:
        raise NotImplementedError


class Decoder(nn.Module):
    """The decoder, split in two: :meth:`features` runs the recurrence over known inputs and
    :meth:`scores` is the output layer. :meth:`forward` makes one step of both.

    A decoder that only overrides :meth:`forward` (one step to scores, a scripted decoder in
    the tests) has no output layer: its scores are its features.
    """

    def init_state(self, enc: EncoderOutput) -> Any:
        """The state before the first step, from the encoder's output."""
        return enc.state

    def features(self, inputs: torch.Tensor, state: Any, enc: EncoderOutput) -> FeatureRun:
        """Run the recurrence over known inputs ``inputs`` ``[B, T]`` (``y_{t-1}`` of each step):
        the output layer's input ``[B, T, F]``, the last state and the weights ``[B, T, S]``.

        This default steps :meth:`forward` (for a decoder without an output layer)."""
        features, attention = [], []
        for k in range(inputs.size(1)):
            step = self(inputs[:, k], state, enc)
            state = step.state
            features.append(step.logits)  # [B, V]
            attention.append(step.attention)  # [B, S] or None
        return FeatureRun(torch.stack(features, dim=1), state,
                          None if attention[0] is None else torch.stack(attention, dim=1))

    def scores(self, features: torch.Tensor, attention: torch.Tensor | None,
               enc: EncoderOutput) -> torch.Tensor:
        """The output layer: ``[B, ..., F]`` features -> ``[B, ..., V]`` logits
        ``W_o f + b_o`` (the features themselves for a decoder without one)."""
        out = getattr(self, "out", None)
        return features if out is None else out(features)

    def gold_log_probs(self, features: torch.Tensor, attention: torch.Tensor | None,
                       enc: EncoderOutput, targets: torch.Tensor, mask: torch.Tensor,
                       spread: bool = False) -> GoldLogProbs:
        """``log p(y_t)`` of the gold tokens at the ``N`` positions where ``mask`` is True,
        and with ``spread`` label smoothing's ``(1/V) sum_w log p(w)`` from the same scores.

        Args:
            features: ``[B, T, F]``; attention: ``[B, T, S]`` or None.
            targets: ``[B, T]`` gold ids ``y_t``; mask: ``[B, T]`` bool.
            spread: also return the mean log-probability over the ``V`` output words.

        Returns:
            :class:`GoldLogProbs` of ``[N]`` tensors: the output layer runs once, over those
            positions only (not over padding).
        """
        logits = self.scores(features[mask], None, enc)  # [N, V]
        if not spread:
            return GoldLogProbs(-nn.functional.cross_entropy(logits, targets[mask],
                                                             reduction="none"), None)  # [N]
        log_p = torch.log_softmax(logits, dim=-1)  # [N, V] log p(w)
        gold = log_p.gather(-1, targets[mask].unsqueeze(-1)).squeeze(-1)  # [N] log p(y_t)
        return GoldLogProbs(gold, log_p.mean(-1))  # [N] (1/V) sum_w log p(w)

    def spread(self, scores: torch.Tensor) -> torch.Tensor:
        """``(1/V) sum_w log p(w)`` ``[...]`` over the ``V`` output words, from scores
        ``[..., V]`` of :meth:`scores` (logits): what label smoothing spreads its share over."""
        return torch.log_softmax(scores, dim=-1).mean(-1)

    def forward(self, prev: torch.Tensor, state: Any, enc: EncoderOutput) -> DecoderStep:
        """One step: ``prev`` ``[B]`` ids ``y_{t-1}`` -> :class:`DecoderStep` (``logits``
        ``[B, V]``, the new state, ``attention`` ``[B, S]`` or None, ``features`` ``[B, F]``)."""
        run = self.features(prev.unsqueeze(1), state, enc)  # features [B, 1, F]
        features = run.features.squeeze(1)  # [B, F]
        attention = None if run.attention is None else run.attention.squeeze(1)  # [B, S]
        return DecoderStep(self.scores(features, attention, enc), run.state, attention, features)

    def forward_sequence(self, inputs: torch.Tensor, state: Any,
                         enc: EncoderOutput) -> DecoderRun:
        """:meth:`features` then :meth:`scores`: ``logits`` ``[B, T, V]`` of ``T`` known
        inputs ``[B, T]``."""
        run = self.features(inputs, state, enc)
        return DecoderRun(self.scores(run.features, run.attention, enc), run.state,
                          run.attention)


class Seq2Seq(nn.Module):
    """An encoder and a decoder run together over a target sequence.

    Attributes:
        kind: the model kind (``"rnn"``, ``"lstm"``, ``"attention"``, ...).
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
        run = self.run(src, src_lens, tgt_in, teacher_forcing, tf_mode, generator, enc)
        return Seq2SeqOutput(self.decoder.scores(run.features, run.attention, run.enc),
                             run.attention)  # logits [B, T, V]

    def loss(self, src: torch.Tensor, src_lens: torch.Tensor, tgt_in: torch.Tensor,
             tgt_out: torch.Tensor, teacher_forcing: float = 1.0, tf_mode: str = "step",
             generator: torch.Generator | None = None, auxiliary: bool = True,
             label_smoothing: float = 0.0) -> torch.Tensor:
        """The training loss: ``-mean_t log p(y_t)`` over the real target tokens of
        ``tgt_out`` ``[B, T]`` (``<pad>`` ignored), plus :meth:`auxiliary_loss` if any (and
        ``auxiliary``).

        With ``label_smoothing`` ``eps > 0`` the target at each token is ``1 - eps`` on the
        gold word and ``eps`` spread evenly over the ``V`` words of the output vocabulary:
        ``-mean_t [(1 - eps) log p(y_t) + eps (1/V) sum_w log p(w)]`` (PyTorch's
        ``cross_entropy(..., label_smoothing=eps)`` for the models whose output is over
        ``V``; the copy model spreads it over its final distribution at the ``V`` words).

        The same value as ``sequence_loss(self(...).logits, tgt_out)`` (the arguments are
        those of :meth:`forward`), computed with less work: the output layer runs over the real
        tokens only, and the scores of the steps whose prediction was fed back are reused.
        """
        run = self.run(src, src_lens, tgt_in, teacher_forcing, tf_mode, generator)
        real = tgt_out != PAD_ID  # [B, T]
        rest = real.clone()  # [B, T] the positions still to score
        total = tgt_out.new_zeros((), dtype=run.features.dtype)
        if run.decided:
            steps = sorted(run.decided)
            decided = torch.stack([run.decided[t] for t in steps], dim=1)  # [B, D, V]
            total = nn.functional.cross_entropy(decided.flatten(0, 1), tgt_out[:, steps].flatten(),
                                                ignore_index=PAD_ID, reduction="sum")
            rest[:, steps] = False
        eps = label_smoothing
        scored = self.decoder.gold_log_probs(run.features, run.attention, run.enc, tgt_out,
                                             rest, spread=bool(eps))  # [N] log p(y_t), ...
        nll = total - scored.gold.sum()  # sum_t -log p(y_t)
        if eps:  # sum_t (1/V) sum_w log p(w), at the scored and at the decided steps
            spread = scored.spread.sum()
            if run.decided:
                spread = spread + self.decoder.spread(decided)[real[:, steps]].sum()
            nll = (1 - eps) * nll - eps * spread
        loss = nll / real.sum().clamp_min(1)  # mean over real tokens
        extra = self.auxiliary_loss(Seq2SeqOutput(None, run.attention), tgt_out)
        return loss if extra is None or not auxiliary else loss + extra

    def auxiliary_loss(self, output: Seq2SeqOutput, tgt_out: torch.Tensor
                       ) -> torch.Tensor | None:
        """A term added to the training loss (coverage's, chapter 7); None: nothing."""
        return None

    def run(self, src: torch.Tensor, src_lens: torch.Tensor, tgt_in: torch.Tensor,
            teacher_forcing: float = 1.0, tf_mode: str = "step",
            generator: torch.Generator | None = None,
            enc: EncoderOutput | None = None) -> TargetRun:
        """The decoder over a whole target, before the output layer (arguments of
        :meth:`forward`): the loop of teacher forcing, with its coins.

        Returns:
            :class:`TargetRun`: ``features`` ``[B, T, F]``, ``attention`` ``[B, T, S]`` or
            None, the encoder's output, and the scores of the steps whose prediction was fed
            back.
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
                    coins: list[bool]) -> TargetRun:
        """Decode with one teacher-forcing choice per step for the whole batch.

        Consecutive teacher-forced steps are one :meth:`Decoder.features` call; before a step
        that is not teacher-forced, the output layer scores the last step to pick ``y_{t-1}``.
        """
        features, attention, decided = [], [], {}
        steps = tgt_in.size(1)
        t = 0
        while t < steps:
            if t == 0 or coins[t]:  # gold inputs y_{t-1} .. up to the next coin that says no
                end = t + 1
                while end < steps and coins[end]:
                    end += 1
                inputs = tgt_in[:, t:end]  # [B, end - t]
            else:
                end = t + 1
                inputs = decided[t - 1].argmax(-1, keepdim=True)  # [B, 1] the model's y_{t-1}
            run = self.decoder.features(inputs, state, enc)  # features [B, end - t, F]
            state = run.state
            features.append(run.features)
            attention.append(run.attention)  # [B, end - t, S] or None
            if end < steps and not coins[end]:  # the next step reads this step's prediction
                last = None if run.attention is None else run.attention[:, -1]  # [B, S]
                decided[end - 1] = self.decoder.scores(run.features[:, -1], last, enc)  # [B, V]
            t = end
        return TargetRun(torch.cat(features, dim=1),  # [B, T, F]
                         None if attention[0] is None else torch.cat(attention, dim=1), enc,
                         decided)

    def _run_per_row(self, tgt_in: torch.Tensor, state: Any, enc: EncoderOutput,
                     row_coins: torch.Tensor) -> TargetRun:
        """Decode step by step; row ``b`` reads gold tokens where ``row_coins[b]`` ``[B]``."""
        features, attention, decided = [], [], {}
        prev = tgt_in[:, 0]  # [B] <sos>
        for t in range(tgt_in.size(1)):
            step = self.decoder(prev, state, enc)
            state = step.state
            features.append(step.features)  # [B, F]
            attention.append(step.attention)  # [B, S] or None
            decided[t] = step.logits  # [B, V]
            if t + 1 < tgt_in.size(1):
                prev = torch.where(row_coins, tgt_in[:, t + 1], step.logits.argmax(-1))  # [B]
        return TargetRun(torch.stack(features, dim=1),  # [B, T, F]
                         None if attention[0] is None else torch.stack(attention, dim=1), enc,
                         decided)

    # -- text in, text out: the same for every kind (a copy model overrides these) ----------

    def source_view(self, nl_tokens: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        """The English tokens as the model reads them, and the mapping that
        :meth:`output_tokens` undoes (empty here; placeholders for the canonical form)."""
        return list(nl_tokens), {}

    def encode_source(self, tokens: Sequence[str], src_vocab: Vocab,
                      tgt_vocab: Vocab) -> list[int]:
        """Source ids ``x`` of English tokens already in the model's view."""
        return src_vocab.encode(tokens)

    def encode_pairs(self, nl_tokens: Sequence[Sequence[str]],
                     code_tokens: Sequence[Sequence[str]], src_vocab: Vocab, tgt_vocab: Vocab,
                     max_src_len: int | None = None, max_tgt_len: int | None = None
                     ) -> list[tuple[list[int], list[int]]]:
        """Training pairs (source ids, target ids framed by ``<sos>`` ... ``<eos>``)."""
        return encode_pairs(nl_tokens, code_tokens, src_vocab, tgt_vocab, max_src_len,
                            max_tgt_len)

    def token(self, index: int, view: Sequence[str], tgt_vocab: Vocab) -> str:
        """The code token of one output id (``<eos>`` and the other specials by name)."""
        return tgt_vocab.itos[index]

    def output_tokens(self, ids: Sequence[int], view: Sequence[str], mapping: dict[str, str],
                      tgt_vocab: Vocab) -> list[str]:
        """Decoded ids -> code tokens (stops at ``<eos>``)."""
        return tgt_vocab.decode(ids)


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``with evaluating(model):`` runs the block in eval mode (no dropout) and restores the
    mode the model had, also when the block raises."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


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
