"""Beam search: keep the ``k`` best partial translations at every step, not just one (chapter 6).

Greedy decoding (:mod:`seq2code.decoding`) commits to ``argmax p(y_t | y_<t, x)`` at every step
and can never take it back. Beam search keeps ``k`` hypotheses ("beams") per source, ``k`` the
beam width (``beam_size``; the code below names it ``K``). At step ``t`` each beam ``y_<t`` is
extended by every token ``w`` of the vocabulary, scored by its cumulative log-probability

    log P(y_<t w | x) = log P(y_<t | x) + log p(w | y_<t, x),

and the ``k`` best of the ``k V`` extensions survive. An extension by ``<eos>`` is a finished
hypothesis: it leaves the beam and is kept aside (the ``k`` best of them by score), until
``k`` are kept and no live beam scores better than the worst of them, or ``max_len`` steps have
passed (then the unfinished beams join them). The answer is the best kept hypothesis under
the **length-normalised** score

    ell(Y) = log P(Y | x) / |Y|^gamma

where ``|Y|`` counts the tokens scored, ``<eos>`` included, and the length exponent ``gamma``
is the argument ``alpha`` (the letter of Wu et al. 2016 and Vaswani et al. 2017; the course's
text keeps alpha for the attention weights ``alpha_{t,s}``). A sum of log-probabilities only
falls as a sequence grows, so ``gamma = 0`` favours short outputs; ``gamma = 1`` ranks by the
mean log-probability per token. (Wu et al. 2016 divide by ``((5 + |Y|) / 6)^gamma`` instead,
the same idea.)

The ``B`` sources of a batch and their ``k`` beams decode together as ``N = B k`` rows:
row ``b k + j`` is beam ``j`` of source ``b``. After each step the surviving beams may descend
from any beam of their source, so the decoder's state is reordered row by row
(:func:`reorder_state`); a source whose ``k`` hypotheses are finished leaves the batch (its
rows of the state and of the encoder's output are dropped the same way). The state may be a
tensor, a tuple ``(s, m)`` (PyTorch's ``(h, c)``), a NamedTuple, or any nesting of them; the
axis that holds the batch is found once per call by comparing the state (and the encoder's
output) of ``N`` rows with those of one row (:func:`batch_axes`), so every model of the
shared interface works without telling beam search how its state is laid out.

With ``k = 1`` beam search is greedy decoding, exactly (the tests check it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from seq2code.models.base import Seq2Seq, evaluating, on_model_device
from seq2code.vocab import EOS_ID, SOS_ID


class Hypothesis(NamedTuple):
    """One kept translation of a source.

    Attributes:
        tokens: ``y_1 .. y_n``, without ``<sos>`` and ``<eos>``.
        log_prob: ``log P(Y | x)``, summed over ``y_1 .. y_n`` and the ``<eos>`` (no
            ``<eos>`` for an unfinished hypothesis).
        score: the length-normalised score ``ell(Y) = log_prob / |Y|^gamma`` (``gamma`` is
            the argument ``alpha`` of :func:`beam_search`).
        finished: True when the hypothesis ended with ``<eos>`` (False: cut at ``max_len``).
    """

    tokens: list[int]
    log_prob: float
    score: float
    finished: bool


class BeamStep(NamedTuple):
    """The beams after one step (kept when ``beam_search(..., keep_history=True)``).

    Attributes:
        tokens: ``[B, k]`` the token that each surviving beam just added.
        parents: ``[B, k]`` which beam of the previous step it extends.
        log_probs: ``[B, k]`` its cumulative ``log P(y_<=t | x)`` (``-inf``: no beam).
        finished: ``(b, parent, log_prob, score)`` for every beam of the previous step that
            ended here with ``<eos>`` and was kept.
    """

    tokens: torch.Tensor
    parents: torch.Tensor
    log_probs: torch.Tensor
    finished: list[tuple[int, int, float, float]]


class BeamResult(NamedTuple):
    """Beam search over a batch.

    Attributes:
        tokens: per source, the best hypothesis's ids ``y_1 .. y_n``.
        hypotheses: per source, every kept :class:`Hypothesis`, best score first.
        history: per step, a :class:`BeamStep` (None unless ``keep_history``).
    """

    tokens: list[list[int]]
    hypotheses: list[list[Hypothesis]]
    history: list[BeamStep] | None


def length_normalised(log_prob: torch.Tensor | float, length: torch.Tensor | int,
                      alpha: float) -> torch.Tensor | float:
    """``ell(Y) = log P(Y | x) / |Y|^gamma`` with ``gamma = alpha``: ``log_prob`` of a
    hypothesis of ``length`` tokens (``<eos>`` counted). Works on numbers and elementwise on
    tensors."""
    return log_prob / length ** alpha


def map_state(fn: Callable[..., Any], state: Any, *others: Any) -> Any:
    """Apply ``fn`` to every tensor of a (nested) decoder state, keeping its structure.

    ``state`` may be a tensor, a tuple, a list, a NamedTuple or a dict of them, nested to any
    depth; other leaves (None, numbers) are kept as they are. ``others`` are structures of the
    same shape whose matching leaves are passed to ``fn`` too: ``fn(tensor, *leaves)``.
    """
    if isinstance(state, torch.Tensor):
        return fn(state, *others)
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # a NamedTuple
        return type(state)(*(map_state(fn, *parts) for parts in zip(state, *others, strict=True)))
    if isinstance(state, (tuple, list)):
        return type(state)(map_state(fn, *parts) for parts in zip(state, *others, strict=True))
    if isinstance(state, dict):
        return {key: map_state(fn, value, *(other[key] for other in others))
                for key, value in state.items()}
    return state


def batch_axes(state_n: Any, state_1: Any) -> Any:
    """The batch axis of every tensor of a state: where the state of ``N > 1`` rows and the
    state of one row differ in size (None for a tensor that holds no batch axis).

    Raises:
        ValueError: when a tensor differs on more than one axis (its layout is ambiguous).
    """
    def axis(big: torch.Tensor, small: torch.Tensor) -> int | None:
        differ = [d for d in range(big.dim()) if big.size(d) != small.size(d)]
        if len(differ) > 1:
            raise ValueError(f"cannot tell the batch axis of a state tensor of shape "
                             f"{tuple(big.shape)} (one row: {tuple(small.shape)})")
        return differ[0] if differ else None

    return map_state(axis, state_n, state_1)


def reorder_state(state: Any, index: torch.Tensor, axes: Any) -> Any:
    """Row ``i`` of the new state is row ``index[i]`` of ``state``.

    Args:
        state: the decoder state (any nesting, see :func:`map_state`) of ``N`` rows.
        index: ``[N']`` long, the row each new row copies (a surviving beam's parent).
        axes: the batch axis of each tensor, from :func:`batch_axes`.
    """
    return map_state(lambda t, axis: t if axis is None else t.index_select(axis, index),
                     state, axes)


def _best_first(hyps: list[Hypothesis]) -> list[Hypothesis]:
    return sorted(hyps, key=lambda h: h.score, reverse=True)


@torch.no_grad()
def beam_search(model: Seq2Seq, src: torch.Tensor, src_lens: torch.Tensor, beam_size: int,
                max_len: int, alpha: float = 1.0, keep_history: bool = False) -> BeamResult:
    """Decode ``src`` with beam search, ``k = beam_size`` beams per source.

    The model is put in eval mode for the call and left in the mode it had.

    Args:
        model: a :class:`~seq2code.models.base.Seq2Seq` of any kind.
        src: ``[B, S]`` source ids ``x``, padded (moved to the model's device if elsewhere).
        src_lens: ``[B]`` real source lengths.
        beam_size: the beam width ``k >= 1``; 1 is greedy decoding.
        max_len: the most tokens generated per hypothesis (``<eos>`` not counted).
        alpha: the length exponent ``gamma`` of ``ell(Y) = log P(Y | x) / |Y|^gamma``.
        keep_history: keep every step's beams (:class:`BeamStep`), for pictures.

    Returns:
        :class:`BeamResult`.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    src, src_lens = on_model_device(model, src, src_lens)
    with evaluating(model):
        return _beam_search(model, src, src_lens, beam_size, max_len, alpha, keep_history)


def _beam_search(model: Seq2Seq, src: torch.Tensor, src_lens: torch.Tensor, K: int,
                 max_len: int, alpha: float, keep_history: bool) -> BeamResult:
    # K is the beam width k and alpha the length exponent gamma; shapes write k.
    B, device = src.size(0), src.device
    rows = torch.arange(B, device=device).repeat_interleave(K)  # [N] source of each row
    enc = model.encode(src[rows], src_lens[rows])  # every source once per beam, N = B k rows
    state = model.decoder.init_state(enc)
    axes = enc_axes = None
    if B * K > 1:  # the batch axis of each tensor: compare with the tensors of one row
        longest = int(src_lens.argmax())  # (its encoding spans every column of src)
        enc_1 = model.encode(src[longest:longest + 1], src_lens[longest:longest + 1])
        axes = batch_axes(state, model.decoder.init_state(enc_1))
        enc_axes = batch_axes(enc, enc_1)

    log_probs = torch.full((B, K), float("-inf"), device=device)  # [B', k] log P(y_<t | x)
    log_probs[:, 0] = 0.0  # one live beam at the start: the others would repeat it
    beams = torch.empty(B, K, 0, dtype=torch.long, device=device)  # [B', k, t] y_1 .. y_t
    prev = torch.full((B * K,), SOS_ID, dtype=torch.long, device=device)  # [N] y_{t-1}
    kept: list[list[Hypothesis]] = [[] for _ in range(B)]
    history: list[BeamStep] | None = [] if keep_history else None
    active = list(range(B))  # the sources still decoding; B' = len(active) of them
    beam_ids = torch.arange(K, device=device)  # [k]

    for t in range(max_len):
        n_active = len(active)
        step = model.decoder(prev, state, enc)
        vocab = step.logits.size(-1)
        step_lp = torch.log_softmax(step.logits.float(), dim=-1).view(n_active, K, vocab)
        candidates = (log_probs.unsqueeze(-1) + step_lp).view(n_active, K * vocab)  # [B', k V]
        n_top = min(2 * K, K * vocab)  # k of them are not <eos>, whatever happens
        top_lp, top_ids = candidates.topk(n_top, dim=1)  # [B', 2k], best first
        parents, tokens = top_ids // vocab, top_ids % vocab  # [B', 2k] each
        is_eos = tokens == EOS_ID

        # An <eos> among the k best ends a hypothesis: keep it aside.
        rank = torch.arange(n_top, device=device).unsqueeze(0)  # [1, 2k]
        ending = is_eos & (rank < K) & torch.isfinite(top_lp)  # [B', 2k]
        finished_now = []
        if bool(ending.any()):
            for b, j in ending.nonzero().tolist():
                source, parent, lp = active[b], int(parents[b, j]), float(top_lp[b, j])
                score = float(length_normalised(lp, t + 1, alpha))
                if _keep(kept[source], Hypothesis(beams[b, parent].tolist(), lp, score, True),
                         K):
                    finished_now.append((source, parent, lp, score))

        # The k best extensions that are not <eos> go on.
        log_probs, pos = top_lp.masked_fill(is_eos, float("-inf")).topk(K, dim=1)  # [B', k]
        parents, tokens = parents.gather(1, pos), tokens.gather(1, pos)  # [B', k]
        beams = torch.cat([beams.gather(1, parents.unsqueeze(-1).expand(-1, -1, t)),
                           tokens.unsqueeze(-1)], dim=-1)  # [B', k, t + 1]
        if history is not None:
            history.append(_history_step(B, K, active, tokens, parents, log_probs,
                                         finished_now))
        # A source is done when k hypotheses are kept and no live beam scores better than
        # the worst of them (exact for gamma = 0, where a log-probability can only fall).
        live = length_normalised(log_probs.max(dim=1).values, t + 1, alpha).tolist()  # [B']
        going = [b for b, source in enumerate(active)
                 if len(kept[source]) < K or live[b] > min(h.score for h in kept[source])]
        if not going:
            break
        parent_rows = parents + (torch.arange(n_active, device=device) * K).unsqueeze(1)
        if len(going) < n_active:  # finished sources leave the batch
            keep = torch.tensor(going, device=device)  # [B'']
            parent_rows, tokens = parent_rows[keep], tokens[keep]  # [B'', k]
            log_probs, beams = log_probs[keep], beams[keep]
            enc = reorder_state(enc, (keep.unsqueeze(1) * K + beam_ids).view(-1), enc_axes)
            active = [active[b] for b in going]
        if axes is not None:  # row b k + j takes the state of its parent's row
            state = reorder_state(step.state, parent_rows.view(-1), axes)
        else:
            state = step.state
        prev = tokens.view(-1)  # [N'']
    else:  # max_len reached: the unfinished beams compete with the finished ones
        for b, source in enumerate(active):
            for k in range(K):
                lp = float(log_probs[b, k])
                if lp > float("-inf"):
                    _keep(kept[source], Hypothesis(beams[b, k].tolist(), lp,
                                                   float(length_normalised(lp, max_len, alpha)),
                                                   False), K)
    hypotheses = [_best_first(hyps) for hyps in kept]
    return BeamResult([hyps[0].tokens if hyps else [] for hyps in hypotheses], hypotheses,
                      history)


def _keep(kept: list[Hypothesis], hyp: Hypothesis, K: int) -> bool:
    """Keep ``hyp`` among the ``K = k`` best (by score) of ``kept``; True if it was kept."""
    if len(kept) < K:
        kept.append(hyp)
        return True
    worst = min(range(K), key=lambda i: kept[i].score)
    if hyp.score > kept[worst].score:
        kept[worst] = hyp
        return True
    return False


def _history_step(B: int, K: int, active: list[int], tokens: torch.Tensor,
                  parents: torch.Tensor, log_probs: torch.Tensor,
                  finished: list[tuple[int, int, float, float]]) -> BeamStep:
    """A :class:`BeamStep` over all ``B`` sources (those already done: no beam, ``-inf``)."""
    index = torch.tensor(active)
    full_tokens = torch.zeros(B, K, dtype=torch.long)
    full_parents = torch.zeros(B, K, dtype=torch.long)
    full_lp = torch.full((B, K), float("-inf"))
    full_tokens[index], full_parents[index] = tokens.cpu(), parents.cpu()
    full_lp[index] = log_probs.cpu()
    return BeamStep(full_tokens, full_parents, full_lp, finished)


@torch.no_grad()
def sequence_log_probs(model: Seq2Seq, src: torch.Tensor, src_lens: torch.Tensor,
                       sequences: list[list[int]], finished: list[bool] | None = None
                       ) -> torch.Tensor:
    """``log P(Y | x)`` of given outputs under the model (teacher-forced), to compare decoders.

    Args:
        model: the model.
        src: ``[B, S]`` source ids, ``src_lens`` ``[B]`` their lengths.
        sequences: per source, the ids ``y_1 .. y_n`` (no ``<sos>``, no ``<eos>``).
        finished: per source, whether ``<eos>`` follows and is scored (default: all True).

    Returns:
        ``[B]`` the summed log-probabilities (on the CPU).
    """
    src, src_lens = on_model_device(model, src, src_lens)
    with evaluating(model):
        finished = finished if finished is not None else [True] * len(sequences)
        width = max(len(seq) for seq in sequences) + 1
        tgt_in = torch.zeros(len(sequences), width, dtype=torch.long)  # [B, T] <sos> y ...
        tgt_out = torch.zeros(len(sequences), width, dtype=torch.long)  # [B, T] y ... <eos>
        scored = torch.zeros(len(sequences), width, dtype=torch.bool)  # [B, T]
        for b, (seq, ends) in enumerate(zip(sequences, finished, strict=True)):
            tgt_in[b, : len(seq) + 1] = torch.tensor([SOS_ID, *seq])
            tgt_out[b, : len(seq) + 1] = torch.tensor([*seq, EOS_ID])
            scored[b, : len(seq) + int(ends)] = True
        logits = model(src, src_lens, tgt_in.to(src.device)).logits  # [B, T, V]
        step_lp = torch.log_softmax(logits.float(), dim=-1).cpu()  # [B, T, V]
        picked = step_lp.gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)  # [B, T]
        return torch.where(scored, picked, 0.0).sum(dim=1)  # [B]
