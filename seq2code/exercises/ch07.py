"""Checks for the exercises of chapter 7 (copy mechanism and coverage).

- :func:`check_extend_target`: target tokens to ids of the extended vocabulary;
- :func:`check_mixture`: the pointer-generator's final distribution
  ``P(w) = p_gen P_vocab(w) + (1 - p_gen) sum_{s: x_s = w} alpha_{t,s}``;
- :func:`check_coverage_loss`: ``sum_t sum_s min(alpha_{t,s}, kappa_{t,s})`` with the coverage
  ``kappa_t = sum_{t' < t} alpha_{t'}``.
"""

from __future__ import annotations

import torch

from seq2code.exercises import Hint, exercise, expect_close
from seq2code.exercises import call_with_shape_hint as _call
from seq2code.vocab import UNK_ID, Vocab

_VOCAB = Vocab(["<pad>", "<sos>", "<eos>", "<unk>", "return", "self", ".", "(", ")"])  # V = 9


@exercise
def check_extend_target(extend_target):
    """Vocabulary tokens keep their id, copied tokens get V + their first position in the
    English, any other token is <unk>."""
    src = ["return", "self", ".", "name", "or", "name", "_default"]
    code = ["return", "self", ".", "name", "or", "self", ".", "_default", "None"]
    size = len(_VOCAB)
    first = {}
    for i, tok in enumerate(src):
        first.setdefault(tok, i)
    right = [_VOCAB.stoi[t] if t in _VOCAB else size + first[t] if t in first else UNK_ID
             for t in code]
    got = extend_target(list(code), list(src), _VOCAB)
    if isinstance(got, torch.Tensor):
        got = got.tolist()
    if not isinstance(got, list | tuple):
        raise Hint(f"return a list of ints, got {type(got).__name__}")
    got = [int(i) for i in got]
    if len(got) == len(right) + 2:
        raise Hint("return the ids of the tokens only, without <sos> and <eos>")
    if len(got) != len(right):
        raise Hint(f"one id per code token: expected {len(right)} ids, got {len(got)}")
    last = {tok: i for i, tok in enumerate(src)}
    mistakes = [
        ([_VOCAB.stoi[t] if t in _VOCAB else size + last[t] if t in last else UNK_ID
          for t in code], "`name` occurs twice in the English: use its *first* position "
         "(both positions get the same extended id, so the copy adds up their attention)"),
        ([_VOCAB.stoi[t] if t in _VOCAB else first[t] if t in first else UNK_ID
          for t in code], "a copied token's id is V + i, not i: the first V ids are the "
         "vocabulary's (`len(vocab)` is V)"),
        ([_VOCAB.stoi.get(t, UNK_ID) for t in code], "tokens outside the vocabulary that the "
         "English contains (`name`, `_default`) can be copied: give them V + their position"),
        ([size + first[t] if t in first else _VOCAB.stoi.get(t, UNK_ID) for t in code],
         "a token the vocabulary holds keeps its vocabulary id even when the English contains "
         "it too (the copy adds its attention to that id)"),
        ([_VOCAB.stoi[t] if t in _VOCAB else size + first[t] if t in first else size
          for t in code], "a token that is neither in the vocabulary nor in the English "
         "(`None` here) cannot be written: it is <unk> (id 3)"),
    ]
    for wrong, hint in mistakes:
        if got == wrong:
            raise Hint(hint)
    if got != right:
        bad = next(i for i, (a, b) in enumerate(zip(got, right, strict=True)) if a != b)
        raise Hint(f"token {bad} ({code[bad]!r}): expected id {right[bad]}, got {got[bad]}")


def _mixture_case():
    g = torch.Generator().manual_seed(7)
    b, v, s = 2, 5, 4
    p_vocab = torch.softmax(torch.randn(b, v, generator=g, dtype=torch.float64), -1)
    attention = torch.softmax(torch.randn(b, s, generator=g, dtype=torch.float64), -1)
    attention[1, 3] = 0.0  # a padded position (its src_ext is 0, <pad>)
    attention[1] /= attention[1].sum()
    src_ext = torch.tensor([[5, 3, 5, 4], [6, 2, 6, 0]])  # repeats: positions 0 and 2
    p_gen = torch.tensor([[0.3], [0.8]], dtype=torch.float64)
    return p_vocab, attention, src_ext, p_gen


def _keep_one(gen, values, src_ext, *, first: bool, overwrite: bool) -> torch.Tensor:
    """What writing ``values`` [B, S] at ``src_ext`` [B, S] into ``gen`` [B, V + S] without
    accumulating gives: ``scatter`` (``overwrite``: the vocabulary part at those ids is
    replaced) or ``x[rows, src_ext] += values`` (each id read once, then written); of the
    positions of a repeated word only the ``first`` or the last one's value stays."""
    out = gen.clone()
    b, s = src_ext.shape
    for row in range(b):
        for i in (range(s - 1, -1, -1) if first else range(s)):
            j = int(src_ext[row, i])
            out[row, j] = values[row, i] if overwrite else gen[row, j] + values[row, i]
    return out


@exercise
def check_mixture(mixture):
    """P(w) = p_gen P_vocab(w) + (1 - p_gen) sum_{s: x_s = w} alpha_{t,s} over the V + S
    extended ids, repeated source words adding up."""
    p_vocab, attention, src_ext, p_gen = _mixture_case()
    b, v = p_vocab.shape
    s = attention.size(1)
    gen = torch.nn.functional.pad(p_gen * p_vocab, (0, s))  # [B, V + S]
    copy_sum = torch.zeros(b, v + s, dtype=torch.float64).scatter_add(1, src_ext, attention)
    copy_last = torch.zeros(b, v + s, dtype=torch.float64).scatter(1, src_ext, attention)
    args = (p_vocab.clone(), attention.clone(), src_ext.clone(), p_gen.clone())
    result = _call(mixture, args, f"p_vocab is [B, V] = [{b}, {v}], attention [B, S] = "
                   f"[{b}, {s}], src_ext [B, S] and p_gen [B, 1]: the result is "
                   f"[B, V + S] = [{b}, {v + s}]; pad p_vocab with S zeros first")
    copied = (1 - p_gen) * attention  # [B, S]
    keeps_one = ("when a word repeats in the source (ids 5 and 6 here, each at two "
                 "positions), `scatter` keeps only one position's weight (so does an indexed "
                 "`+=`, which reads and writes each id once), where P(w) needs the sum of "
                 "both: use `scatter_add` (or `index_add`), which adds")
    overwrites = (keeps_one + "; `scatter` also overwrites p_gen P_vocab(w) at the source "
                  "words that the vocabulary holds, where the copy part must be added to it")
    expect_close(result, gen + (1 - p_gen) * copy_sum, "your P(w)", mistakes=[
        (gen + p_gen * copy_sum, "the copy part is weighted by 1 - p_gen, not p_gen"),
        (torch.nn.functional.pad((1 - p_gen) * p_vocab, (0, s)) + p_gen * copy_sum,
         "p_gen and 1 - p_gen are swapped: p_gen weighs the *generated* (vocabulary) part"),
        (gen.scatter(1, src_ext, copied), overwrites),
        (_keep_one(gen, copied, src_ext, first=False, overwrite=True), overwrites),
        (_keep_one(gen, copied, src_ext, first=True, overwrite=True), overwrites),
        (gen + (1 - p_gen) * copy_last, keeps_one),
        (_keep_one(gen, copied, src_ext, first=False, overwrite=False), keeps_one),
        (_keep_one(gen, copied, src_ext, first=True, overwrite=False), keeps_one),
        (gen + copy_sum, "the copy part must be weighted by 1 - p_gen"),
        ((gen + (1 - p_gen) * copy_sum)[:, :v], "the result covers the extended "
         "vocabulary, V + S ids: do not drop the source slots"),
    ], atol=1e-9)


@exercise
def check_coverage_loss(coverage_loss):
    """sum over steps and positions of min(alpha_t, kappa_t), the coverage kappa_t the
    attention of the steps before t (kappa_1 = 0)."""
    g = torch.Generator().manual_seed(3)
    t, s = 4, 5
    attention = torch.softmax(2 * torch.randn(t, s, generator=g, dtype=torch.float64), -1)
    cumulative = attention.cumsum(0)
    before = cumulative - attention  # kappa_t
    result = _call(coverage_loss, (attention.clone(),), f"attention is [T, S] = [{t}, {s}]: "
                   "the coverage kappa_t is a [S] vector per step, the cumulative sum over steps "
                   "(dim 0) minus the current step")
    result = torch.as_tensor(result, dtype=torch.float64)
    expect_close(result, torch.minimum(attention, before).sum(), "your coverage loss",
                 mistakes=[
                     (torch.minimum(attention, cumulative).sum(), "the coverage kappa_t "
                      "holds the steps *before* t only: subtract the current step from the "
                      "cumulative sum (with it, min(alpha_t, kappa_t) is just alpha_t)"),
                     (torch.maximum(attention, before).sum(), "the loss takes the *minimum* "
                      "of alpha_t and kappa_t: it is 0 where either is 0"),
                     (torch.minimum(attention, attention.cumsum(1) - attention).sum(),
                      "the coverage sums over decoding steps (dim 0), not over positions"),
                     (torch.minimum(attention, before).sum(1).mean(), "sum over the steps "
                      "too, do not average them (the course's loss is the sum for one "
                      "example)"),
                 ], atol=1e-9)
    if result.dim() != 0:
        raise Hint("return a single number (a 0-dimensional tensor)")
