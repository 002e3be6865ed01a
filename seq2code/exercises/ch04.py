"""Checks for the exercises of chapter 4 (LSTM with additive attention).

- :func:`check_context`: the context vector ``c_t = sum_s alpha_{t,s} h_s``;
- :func:`check_masked_softmax`: softmax over the source positions, exactly 0 at padding;
- :func:`check_additive_scores`: ``v^T tanh(W [s_{t-1}; h_s])`` with padded positions at
  ``-inf``.
"""

from __future__ import annotations

import torch

from seq2code.exercises import (
    Hint,
    exercise,
    expect_close,
    expect_shape,
    fmt_shape,
)
from seq2code.exercises import (
    call_with_shape_hint as _call,
)
from seq2code.exercises.ch01 import watching
from seq2code.models.attention import masked_softmax as library_masked_softmax

NEG_INF = float("-inf")


def _mask(lengths: list[int], steps: int) -> torch.Tensor:
    return torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]  # [B, S]


@exercise
def check_context(context):
    """c_t is the weighted sum of the encoder states, one vector of size H per row."""
    g = torch.Generator().manual_seed(0)
    b, s, h = 2, 4, 3
    weights = torch.softmax(torch.randn(b, s, generator=g), dim=-1)  # [B, S]
    hs = torch.randn(b, s, h, generator=g)  # [B, S, H]
    result = _call(context, (weights.clone(), hs.clone()),
                   f"weights is [B, S] = [{b}, {s}] and hs is [B, S, H] = [{b}, {s}, {h}]: "
                   "give the weights a last axis, `weights[:, :, None] * hs`, or use "
                   "`torch.bmm(weights[:, None, :], hs)`")
    weighted = weights[:, :, None] * hs  # [B, S, H]
    expect_close(result, weighted.sum(dim=1), "your context", mistakes=[
        (weighted.sum(dim=2), "you summed over the state axis: sum over the source "
         "positions s (dim 1), leaving one vector of size H per row"),
        (hs.sum(dim=1), "the weights are ignored: weight each h_s by alpha_{t,s} before "
         "summing"),
        (hs.mean(dim=1), "the weights are ignored: an average of the h_s is not the "
         "context; weight each h_s by alpha_{t,s}"),
        (weighted.mean(dim=1), "a weighted *sum*, not a mean: the weights already sum to 1"),
        (weighted.sum(dim=1)[:, None, :], f"your context is [{b}, 1, {h}]: squeeze the "
         "middle axis to get [B, H]"),
    ])


@exercise
def check_masked_softmax(masked_softmax):
    """Weights sum to 1 over the real source positions and are exactly 0 at padding, for
    [B, S] and [B, T, S] scores."""
    g = torch.Generator().manual_seed(0)
    b, t, s = 2, 3, 4
    mask = _mask([4, 2], s)  # [B, S]
    library = ("your function calls the library's `masked_softmax`: this exercise asks you "
               "to write the masked softmax yourself (mask the scores, then take the softmax)")
    if masked_softmax is library_masked_softmax:
        raise Hint(library)
    for shape in ((b, s), (b, t, s)):
        scores = torch.randn(*shape, generator=g) * 2  # [B, S] or [B, T, S]
        what = "[B, S]" if len(shape) == 2 else "[B, T, S]"
        with watching(library_masked_softmax) as called:
            weights = _call(masked_softmax, (scores.clone(), mask.clone()),
                            f"scores are {what} = {fmt_shape(shape)} and mask is [B, S] = "
                            f"[{b}, {s}]: give the mask the query axes, `mask[:, None, :]`, "
                            "so that it broadcasts over T")
        if called:
            raise Hint(library)
        m = mask if len(shape) == 2 else mask[:, None, :]
        filled = scores.masked_fill(~m, NEG_INF)
        good = library_masked_softmax(scores, mask)
        wrong_axis = "your weights sum to 1 over the wrong axis: softmax over the source " \
                     "positions, the last axis (`dim=-1`)"
        mistakes = [(torch.softmax(filled, dim=0), wrong_axis),
                    (torch.softmax(scores, dim=-1), "padded positions got weight: set their "
                     "scores to -inf before the softmax"),
                    (torch.softmax(scores, dim=-1) * m, "the weights of the real positions "
                     "no longer sum to 1: mask the *scores* with -inf before the softmax, "
                     "instead of zeroing weights after it"),
                    (torch.softmax(scores.masked_fill(m, NEG_INF), dim=-1), "your mask is "
                     "inverted: True marks the real positions, fill where it is False "
                     "(`~mask`)"),
                    (torch.softmax(scores.masked_fill(~m, 0.0), dim=-1), "a padded score of 0 "
                     "still gets weight exp(0) > 0: fill with float('-inf')")]
        if len(shape) == 3:
            mistakes.append((torch.softmax(filled, dim=1), wrong_axis))
        value = expect_close(weights, good, f"your weights for {what} scores",
                             mistakes=mistakes)
        padded = value[~m.expand(shape)]
        if (padded != 0).any():
            raise Hint(f"padded positions must get weight exactly 0, got "
                       f"{padded.abs().max().item():.2g}: fill their scores with "
                       "float('-inf'), not a finite number")


@exercise
def check_additive_scores(additive_scores):
    """e_{t,s} = v^T tanh(W [s_{t-1}; h_s]) at real positions, -inf at padding."""
    g = torch.Generator().manual_seed(0)
    b, s, h_t_dim, h_s_dim, a = 2, 4, 3, 2, 6
    h_t = torch.randn(b, h_t_dim, generator=g)  # [B, H]  s_{t-1}
    hs = torch.randn(b, s, h_s_dim, generator=g)  # [B, S, H_enc]  h_s
    mask = _mask([4, 2], s)  # [B, S]
    W = torch.randn(a, h_t_dim + h_s_dim, generator=g) * 0.8  # [A, H + H_enc]
    v = torch.randn(a, generator=g)  # [A]
    result = _call(additive_scores, (h_t.clone(), hs.clone(), mask.clone(), W.clone(),
                                     v.clone()),
                   f"s_prev is [B, H] = [{b}, {h_t_dim}], hs is [B, S, H_enc] = "
                   f"[{b}, {s}, {h_s_dim}] and W is [A, H + H_enc] = [{a}, "
                   f"{h_t_dim + h_s_dim}]: repeat s_prev over the S positions "
                   "(`s_prev[:, None, :].expand(-1, S, -1)`), concatenate on the last axis and "
                   "multiply by `W.T`")
    result = expect_shape(result, (b, s), "your scores")
    if result.is_floating_point():  # a very negative finite fill works as well as -inf
        result = result.masked_fill(result <= -1e8, NEG_INF)
    pairs = torch.cat([h_t[:, None, :].expand(-1, s, -1), hs], dim=-1)  # [B, S, H + H_enc]
    hidden = torch.tanh(pairs @ W.T)  # [B, S, A]
    raw = hidden @ v  # [B, S]
    swapped = torch.cat([hs, h_t[:, None, :].expand(-1, s, -1)], dim=-1)
    expect_close(result, raw.masked_fill(~mask, NEG_INF), "your scores", mistakes=[
        (raw, "padded positions must score -inf (`masked_fill(~mask, float('-inf'))`), so "
         "that the softmax gives them weight 0"),
        (raw.masked_fill(~mask, 0.0), "padded positions score 0, which still gets weight "
         "after the softmax: fill them with float('-inf')"),
        (raw.masked_fill(mask, NEG_INF), "your mask is inverted: True marks the real "
         "positions, fill where it is False (`~mask`)"),
        ((swapped @ W.T).tanh().matmul(v).masked_fill(~mask, NEG_INF), "concatenate in the "
         "order [s_{t-1}; h_s]: the first H columns of W multiply the query s_{t-1}"),
        ((pairs @ W.T @ v).masked_fill(~mask, NEG_INF), "you forgot the tanh: "
         "e = v^T tanh(W [s_{t-1}; h_s])"),
        (hidden.sum(-1).masked_fill(~mask, NEG_INF), "the hidden layer is summed: take its "
         "dot product with v (`@ v`)"),
    ])
