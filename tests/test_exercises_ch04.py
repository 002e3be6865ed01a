"""Chapter 4's exercise checks: the notebook's solutions pass, typical mistakes get their hint."""

import pytest
import torch
from test_exercises import assert_hint, chapter_tests, verdict

from seq2code.exercises import CORRECT
from seq2code.exercises.ch04 import check_additive_scores, check_context, check_masked_softmax
from seq2code.models import attention as attention_module
from seq2code.models import masked_softmax

CHAPTER = "04_attention"
CHECKS = [(check_context, "context"), (check_masked_softmax, "softmax_with_mask"),
          (check_additive_scores, "additive_scores")]
NEG_INF = float("-inf")


test_the_notebooks_solution_passes, test_the_stub_is_not_attempted = chapter_tests(
    CHAPTER, CHECKS)


def test_a_bmm_context_passes():
    bmm = lambda w, hs: torch.bmm(w[:, None, :], hs)[:, 0]  # noqa: E731
    assert verdict(check_context, bmm).status == CORRECT


@pytest.mark.parametrize("answer", [
    masked_softmax,  # the library's function itself
    lambda s, m: masked_softmax(s, m),  # imported before the check, as a cell would
    lambda s, m: attention_module.masked_softmax(s.clone(), m),
], ids=["the-function", "imported-name", "module-attribute"])
def test_masked_softmax_may_not_call_the_librarys(answer):
    assert_hint(check_masked_softmax, answer, "calls the library's `masked_softmax`")


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda w, hs: (w[:, :, None] * hs).sum(2), "summed over the state axis"),
    (lambda w, hs: hs.sum(1), "the weights are ignored"),
    (lambda w, hs: hs.mean(1), "an average of the h_s is not the context"),
    (lambda w, hs: (w[:, :, None] * hs).mean(1), "a weighted *sum*, not a mean"),
    (lambda w, hs: torch.bmm(w[:, None, :], hs), "squeeze the middle axis"),
    (lambda w, hs: (w[:, None, :] * hs).sum(1), "give the weights a last axis"),
])
def test_context_mistakes(answer, hint):
    assert_hint(check_context, answer, hint)


def fill_last(scores, mask, value, invert=False):
    m = mask if scores.dim() == 2 else mask[:, None, :]
    return scores.masked_fill(m if invert else ~m, value)


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda s, m: torch.softmax(fill_last(s, m, NEG_INF), dim=0), "over the wrong axis"),
    (lambda s, m: torch.softmax(fill_last(s, m, NEG_INF), dim=1), "over the wrong axis"),
    (lambda s, m: torch.softmax(s, dim=-1), "padded positions got weight"),
    (lambda s, m: torch.softmax(s, -1) * (m if s.dim() == 2 else m[:, None]), "no longer sum"),
    (lambda s, m: torch.softmax(fill_last(s, m, NEG_INF, invert=True), -1), "inverted"),
    (lambda s, m: torch.softmax(fill_last(s, m, 0.0), dim=-1), "still gets weight exp(0)"),
    (lambda s, m: torch.softmax(fill_last(s, m, -90.0), dim=-1), "exactly 0, got"),
    (lambda s, m: torch.softmax(s.masked_fill(~m, NEG_INF), dim=-1), "`mask[:, None, :]`"),
])
def test_masked_softmax_mistakes(answer, hint):
    assert_hint(check_masked_softmax, answer, hint)


def test_masked_softmax_accepts_a_large_negative_fill():
    answer = lambda s, m: torch.softmax(fill_last(s, m, -1e9), dim=-1)  # noqa: E731
    assert verdict(check_masked_softmax, answer).status == CORRECT


def scores_with(order="ts", tanh=True, use_v=True, fill=NEG_INF, invert=False, mask=True):
    def additive_scores(h_t, hs, m, W, v):
        q = h_t[:, None, :].expand(-1, hs.size(1), -1)
        pairs = torch.cat([q, hs] if order == "ts" else [hs, q], dim=-1)
        hidden = pairs @ W.T
        hidden = torch.tanh(hidden) if tanh else hidden
        scores = hidden @ v if use_v else hidden.sum(-1)
        if not mask:
            return scores
        return scores.masked_fill(m if invert else ~m, fill)
    return additive_scores


@pytest.mark.parametrize(("answer", "hint"), [
    (scores_with(mask=False), "padded positions must score -inf"),
    (scores_with(fill=0.0), "padded positions score 0"),
    (scores_with(invert=True), "your mask is inverted"),
    (scores_with(order="st"), "the order [s_{t-1}; h_s]"),
    (scores_with(tanh=False), "you forgot the tanh"),
    (scores_with(use_v=False), "dot product with v"),
    (lambda h_t, hs, m, W, v: torch.cat([h_t[:, None].expand(-1, 4, -1), hs], -1) @ W,
     "multiply by `W.T`"),
    (lambda h_t, hs, m, W, v: scores_with()(h_t, hs, m, W, v).T, "transposed"),
])
def test_additive_scores_mistakes(answer, hint):
    assert_hint(check_additive_scores, answer, hint)


def test_additive_scores_accepts_a_large_negative_fill_and_the_split_form():
    assert verdict(check_additive_scores, scores_with(fill=-1e9)).status == CORRECT

    def split(h_t, hs, m, W, v):  # W [s_{t-1}; h_s] = W_q s_{t-1} + W_k h_s
        W_t, W_s = W[:, :h_t.size(1)], W[:, h_t.size(1):]
        e = torch.tanh((h_t @ W_t.T)[:, None, :] + hs @ W_s.T) @ v
        return e.masked_fill(~m, NEG_INF)

    assert verdict(check_additive_scores, split).status == CORRECT
