"""Checks for the exercises of chapter 8 (multi-head attention and the Transformer).

- :func:`check_causal_mask`: the ``[T, T]`` mask of the decoder's self-attention;
- :func:`check_scaled_dot_product`: ``softmax(Q K^T / sqrt(d_k)) V`` with a padding mask;
- :func:`check_sinusoidal_positions`: ``PE[p, 2i] = sin(p / 10000^{2i/d})``, ``PE[p, 2i+1] =
  cos(...)``.
"""

from __future__ import annotations

import math

import torch

from seq2code.exercises import Hint, exercise, expect_close, expect_tensor, shape_error_hint
from seq2code.models.transformer import causal_mask, sinusoidal_positions


@exercise
def check_causal_mask(make_causal_mask):
    """the causal mask: every position sees itself and the positions before it, nothing later"""
    for size in (4, 1, 6):  # 4 first: at size 1 several mistakes look alike
        mask = expect_tensor(make_causal_mask(size), f"causal_mask({size})")
        right = causal_mask(size)  # [T, T]  True where key s <= query t
        if mask.dtype != torch.bool:
            if tuple(mask.shape) == (size, size) and torch.equal(mask.ne(0), right):
                raise Hint("the right pattern, but as numbers: return a bool tensor "
                           "(`torch.ones(T, T, dtype=torch.bool)`), True where t may look")
        expect_close(mask, right, f"causal_mask({size})", mistakes=[
            (right.T, "rows are queries t, columns keys s: position t may see s <= t (a "
                      "lower triangle, `tril`); yours lets every position see the future"),
            (~right, "True means *may look*: yours is True exactly where the mask should hide "
                     "(invert it)"),
            (right.tril(-1), "a position must see itself: the diagonal is True (`tril()`, "
                             "not `tril(-1)`)"),
            (torch.ones(size, size, dtype=torch.bool),
             "nothing is hidden: position t must not see the tokens after it"),
        ])


def _attention_case():
    """Queries ``[2, 3, 4]``, keys ``[2, 5, 4]``, values ``[2, 5, 2]``, mask ``[2, 5]``."""
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 4, generator=g) * 2
    k = torch.randn(2, 5, 4, generator=g) * 2
    v = torch.randn(2, 5, 2, generator=g)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    return q, k, v, mask


def _reference_attention(q, k, v, mask, scale=None, dim=-1, use_mask=True):
    scale = math.sqrt(q.size(-1)) if scale is None else scale
    scores = q @ k.transpose(-2, -1) / scale  # [B, T, S]
    if use_mask:
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=dim)  # dim=-2 over a padded column: NaN, as yours
    return weights @ v, weights


@exercise
def check_scaled_dot_product(attention):
    """scaled dot-product attention: softmax(Q K^T / sqrt(d_k)) over the real keys, then V"""
    q, k, v, mask = _attention_case()
    try:
        result = attention(q.clone(), k.clone(), v.clone(), mask.clone())
    except RuntimeError as error:
        advice = ("q is [B, T, d_k] and k [B, S, d_k]: the scores are "
                  "`q @ k.transpose(-2, -1)`, [B, T, S]")
        hint = shape_error_hint(error, advice)
        if hint is None and "size" in str(error):  # batched products word it otherwise
            hint = Hint(f"a shape mismatch ({str(error).splitlines()[0]}): {advice}")
        if hint:
            raise hint from error
        raise
    if not (isinstance(result, tuple) and len(result) == 2):
        raise Hint("return two tensors: the output [B, T, d_v] and the weights [B, T, S]")
    out, weights = result
    right_out, right_weights = _reference_attention(q, k, v, mask)
    d_k = q.size(-1)
    if (isinstance(out, torch.Tensor) and isinstance(weights, torch.Tensor)
            and out.shape == right_weights.shape and weights.shape == right_out.shape):
        raise Hint("return the output `weights @ v` [B, T, d_v] first, then the weights "
                   "[B, T, S]")
    expect_close(weights, right_weights, "the weights", mistakes=[
        (_reference_attention(q, k, v, mask, scale=1.0)[1],
         "divide the scores by sqrt(d_k) before the softmax"),
        (_reference_attention(q, k, v, mask, scale=float(d_k))[1],
         "divide by sqrt(d_k), not by d_k"),
        (_reference_attention(q, k, v, mask, use_mask=False)[1],
         "the padded keys must get weight 0: fill their scores with -inf before the softmax "
         "(or use `masked_softmax`)"),
        (_reference_attention(q, k, v, mask, dim=-2)[1],
         "the softmax runs over the keys (the last axis, `dim=-1`): each query's weights sum "
         "to one"),
        (_reference_attention(q, k, v, mask, scale=1.0, use_mask=False)[1],
         "scale the scores by 1/sqrt(d_k) and mask the padded keys"),
    ])
    expect_close(out, right_out, "the output", mistakes=[
        (right_weights @ k, "the weights multiply the values V, not the keys"),
    ])


def _wrong_positions(length: int, dim: int) -> list[tuple[torch.Tensor, str]]:
    position = torch.arange(length, dtype=torch.float32)[:, None]  # [L, 1]
    two_i = torch.arange(0, dim, 2, dtype=torch.float32)  # 2i
    angle = position / 10000 ** (two_i / dim)  # [L, d/2]
    angle_i = position / 10000 ** (two_i / 2 / dim)  # 10000^{i/d}
    angle_1 = (position + 1) / 10000 ** (two_i / dim)  # positions from 1

    def interleave(even, odd):
        pe = torch.zeros(length, dim)
        pe[:, 0::2], pe[:, 1::2] = even, odd
        return pe

    return [
        (interleave(angle.cos(), angle.sin()),
         "sin and cos are swapped: even columns 2i hold sin, odd columns 2i+1 cos"),
        (torch.cat([angle.sin(), angle.cos()], dim=1),
         "interleave the two: sin in the even columns (`pe[:, 0::2]`), cos in the odd ones "
         "(`pe[:, 1::2]`), not all sines then all cosines"),
        (interleave(angle_i.sin(), angle_i.cos()),
         "the exponent is 2i/d, where 2i is the even column's index (0, 2, 4, ...): "
         "`torch.arange(0, d, 2) / d`"),
        (interleave(angle_1.sin(), angle_1.cos()),
         "positions count from 0: the first row is sin(0) = 0, cos(0) = 1"),
        (interleave(angle.sin(), angle.sin()), "the odd columns hold cos, not sin"),
    ]


@exercise
def check_sinusoidal_positions(positions):
    """sinusoidal positions: PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...)"""
    for length, dim in ((6, 8), (50, 16)):
        pe = expect_tensor(positions(length, dim), f"positions({length}, {dim})")
        expect_close(pe.float(), sinusoidal_positions(length, dim),
                     f"positions({length}, {dim})", mistakes=_wrong_positions(length, dim))
