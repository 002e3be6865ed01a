"""Chapter 8's exercise checks: the notebook's solutions pass, typical mistakes get their hint."""

import math

import pytest
import torch
from test_exercises import assert_hint, chapter_tests, verdict

from seq2code.exercises import CORRECT
from seq2code.exercises.ch08 import (
    check_causal_mask,
    check_scaled_dot_product,
    check_sinusoidal_positions,
)
from seq2code.models import masked_softmax
from seq2code.models.transformer import causal_mask, sinusoidal_positions

CHAPTER = "08_transformer"
CHECKS = [(check_causal_mask, "causal_mask"), (check_scaled_dot_product, "attention"),
          (check_sinusoidal_positions, "positions")]


test_the_notebooks_solution_passes, test_the_stub_is_not_attempted = chapter_tests(
    CHAPTER, CHECKS)


def test_the_librarys_functions_pass():
    assert verdict(check_causal_mask, causal_mask).status == CORRECT
    assert verdict(check_sinusoidal_positions, sinusoidal_positions).status == CORRECT


def ones(t):
    return torch.ones(t, t, dtype=torch.bool)


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda t: ones(t).triu(), "lets every position see the future"),
    (lambda t: ~ones(t).tril(), "invert it"),
    (lambda t: ones(t).tril(-1), "a position must see itself"),
    (lambda t: ones(t), "nothing is hidden"),
    (lambda t: torch.ones(t, t).tril(), "return a bool tensor"),
    (lambda t: ones(t + 1).tril(), "expected shape"),
    (lambda t: [[True]], "should be a torch.Tensor"),
])
def test_causal_mask_mistakes(answer, hint):
    assert_hint(check_causal_mask, answer, hint)


def attention_with(scale=True, by_dk=False, mask_it=True, dim=-1, values=True, swap=False):
    def attention(q, k, v, mask):
        d_k = q.size(-1)
        scores = q @ k.transpose(-2, -1)
        if scale:
            scores = scores / (d_k if by_dk else math.sqrt(d_k))
        if mask_it:
            weights = masked_softmax(scores, mask) if dim == -1 else torch.softmax(
                scores.masked_fill(~mask[:, None, :], float("-inf")), dim=dim)
        else:
            weights = torch.softmax(scores, dim=dim)
        out = weights @ (v if values else k)
        return (weights, out) if swap else (out, weights)
    return attention


@pytest.mark.parametrize(("answer", "hint"), [
    (attention_with(scale=False), "divide the scores by sqrt(d_k)"),
    (attention_with(by_dk=True), "not by d_k"),
    (attention_with(mask_it=False), "padded keys must get weight 0"),
    (attention_with(dim=-2), "the softmax runs over the keys"),
    (attention_with(scale=False, mask_it=False), "scale the scores by 1/sqrt(d_k) and mask"),
    (attention_with(values=False), "multiply the values V, not the keys"),
    (attention_with(swap=True), "first, then the weights"),
    (lambda q, k, v, m: q @ k, "shape mismatch"),
    (lambda q, k, v, m: masked_softmax(q @ k.transpose(-2, -1), m), "return two tensors"),
])
def test_scaled_dot_product_mistakes(answer, hint):
    assert_hint(check_scaled_dot_product, answer, hint)


def positions_with(swap=False, concat=False, exponent_i=False, from_one=False, only_sin=False):
    def positions(length, dim):
        p = torch.arange(length, dtype=torch.float32)[:, None] + from_one
        two_i = torch.arange(0, dim, 2, dtype=torch.float32)
        angle = p / 10000 ** ((two_i / 2 if exponent_i else two_i) / dim)
        even, odd = angle.sin(), angle.sin() if only_sin else angle.cos()
        if swap:
            even, odd = odd, even
        if concat:
            return torch.cat([even, odd], dim=1)
        pe = torch.zeros(length, dim)
        pe[:, 0::2], pe[:, 1::2] = even, odd
        return pe
    return positions


@pytest.mark.parametrize(("answer", "hint"), [
    (positions_with(swap=True), "sin and cos are swapped"),
    (positions_with(concat=True), "interleave the two"),
    (positions_with(exponent_i=True), "the exponent is 2i/d"),
    (positions_with(from_one=True), "positions count from 0"),
    (positions_with(only_sin=True), "the odd columns hold cos"),
    (lambda length, dim: torch.zeros(dim, length), "expected shape"),
])
def test_sinusoidal_positions_mistakes(answer, hint):
    assert_hint(check_sinusoidal_positions, answer, hint)
