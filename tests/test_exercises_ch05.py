"""Chapter 5's exercise checks: the notebook's solutions pass, typical mistakes get their hint."""

import pytest
import torch
from test_exercises import notebook_solution, run_quietly

from seq2code.exercises import CORRECT, NOT_ATTEMPTED, WRONG
from seq2code.exercises.ch05 import (
    _LENGTH_CASES,
    _by_length,
    check_attention_parameters,
    check_exact_match_by_length,
    check_tokens_per_second,
)
from seq2code.vocab import EOS_ID, PAD_ID

CHAPTER = "05_comparison"
CHECKS = [(check_attention_parameters, "attention_parameters"),
          (check_tokens_per_second, "tokens_per_second"),
          (check_exact_match_by_length, "exact_match_by_length")]


def verdict(check, answer):
    return run_quietly(check, answer)[0]


def assert_hint(check, answer, hint):
    feedback = verdict(check, answer)
    assert feedback.status == WRONG and hint in feedback.message, feedback.message


@pytest.mark.parametrize(("check", "name"), CHECKS)
def test_the_notebooks_solution_passes(check, name):
    assert verdict(check, notebook_solution(CHAPTER, name)).status == CORRECT


@pytest.mark.parametrize(("check", "name"), CHECKS)
def test_the_stub_is_not_attempted(check, name):
    def stub(*args):
        raise NotImplementedError

    assert verdict(check, stub).status == NOT_ATTEMPTED


def attention_count(dec_in_ctx=True, out_2h=True, attention=True, v=True, w_halves=2,
                    attn_bias=False, biases=2, linear_biases=0, v_bias=False):
    """``linear_biases``: how many of the attention's H x H layers carry a bias of H;
    ``v_bias``: v carries a bias of 1 (``nn.Linear``'s default)."""
    def formula(v_src, v_tgt, e, h):
        def lstm(n):
            return 4 * (h * n + h * h + biases * h)
        att = (w_halves * h * h + (h if v else 0) + (h if attn_bias else 0)
               + linear_biases * h + int(v_bias)) if attention else 0
        out = (2 * h if out_2h else h) * v_tgt + v_tgt
        return v_src * e + v_tgt * e + lstm(e) + lstm(e + h if dec_in_ctx else e) + att + out
    return formula


def test_the_reference_formula_is_right():
    assert verdict(check_attention_parameters, attention_count()).status == CORRECT


@pytest.mark.parametrize(("answer", "hint"), [
    (attention_count(dec_in_ctx=False), "its input weights are 4H x (E + H)"),
    (attention_count(out_2h=False), "the output layer reads [s_t; c_t]"),
    (attention_count(attention=False), "you left out the attention"),
    (attention_count(w_halves=1), "you counted one"),
    (attention_count(v=False), "the attention's vector v"),
    (attention_count(attn_bias=True), "have no bias"),
    (attention_count(linear_biases=2, v_bias=True), "biases (H for W_t, H for W_s, 1 for v)"),
    (attention_count(linear_biases=2), "you gave W_t and W_s a bias (H each)"),
    (attention_count(w_halves=2, linear_biases=1, v_bias=True), "biases (H for W, 1 for v)"),
    (attention_count(v_bias=True), "you gave the attention's v a bias"),
    (attention_count(biases=1), "two bias vectors per LSTM layer"),
    (lambda v_src, v_tgt, e, h: attention_count()(v_src, v_tgt, 5, h), "is a size hard-coded"),
    (lambda v_src, v_tgt, e, h: "many", "should return a number"),
    (lambda v_src, v_tgt, e, h: 12, "your formula gives 12"),
])
def test_attention_parameter_mistakes(answer, hint):
    assert_hint(check_attention_parameters, answer, hint)


def count_with(rule, which=slice(None)):
    def tokens_per_second(targets, seconds):
        return sum(int(rule(t)) for t in targets[which]) / seconds
    return tokens_per_second


@pytest.mark.parametrize(("answer", "hint"), [
    (count_with(lambda t: t.numel()), "you counted the padding"),
    (count_with(lambda t: t[:, 1:].numel()), "padding of `tgt[:, 1:]`"),
    (count_with(lambda t: (t != PAD_ID).sum()), "you counted `<sos>`"),
    (count_with(lambda t: ((t[:, 1:] != PAD_ID) & (t[:, 1:] != EOS_ID)).sum()),
     "`<eos>` is a target too"),
    (count_with(lambda t: t.size(0)), "you counted sentences"),
    (count_with(lambda t: (t[:, 1:] != PAD_ID).sum(), slice(-1, None)), "only the last batch"),
    (count_with(lambda t: (t[:, 1:] != PAD_ID).sum(), slice(0, 1)), "only the first batch"),
    (lambda targets, seconds: seconds / sum(int((t[:, 1:] != 0).sum()) for t in targets),
     "divided the seconds by the tokens"),
    (lambda targets, seconds: torch.tensor([1.0, 2.0]), "should return a number"),
    (lambda targets, seconds: 1e6, "expected 5.25 target tokens per second"),
])
def test_tokens_per_second_mistakes(answer, hint):
    assert_hint(check_tokens_per_second, answer, hint)


def test_tokens_per_second_accepts_a_tensor():
    def answer(targets, seconds):
        return torch.stack([(t[:, 1:] != PAD_ID).sum() for t in targets]).sum() / seconds

    assert verdict(check_tokens_per_second, answer).status == CORRECT


def by_length_with(**mistake):
    def exact_match_by_length(exact, lengths, buckets):
        return _by_length(exact, lengths, buckets, **mistake)
    return exact_match_by_length


def test_every_length_mistake_differs_from_the_right_answer():
    exact, lengths, buckets = _LENGTH_CASES[0]
    answers = [_by_length(exact, lengths, buckets)] + [
        _by_length(exact, lengths, buckets, **{name: value})
        for name, value in (("high_inclusive", False), ("low_inclusive", False),
                            ("per_total", True), ("counts", True))]
    assert len({tuple(a) for a in answers}) == len(answers)


def no_empty_guard(exact, lengths, buckets):
    out = []
    for low, high in buckets:
        inside = [x for x, n in zip(exact, lengths, strict=True)
                  if n >= low and (high is None or n <= high)]
        out.append(sum(inside) / len(inside))
    return out


def no_open_bound(exact, lengths, buckets):
    return [sum(x for x, n in zip(exact, lengths, strict=True) if low <= n <= high)
            / max(1, sum(low <= n <= high for n in lengths)) for low, high in buckets]


@pytest.mark.parametrize(("answer", "hint"), [
    (by_length_with(high_inclusive=False), "the upper bound is inclusive"),
    (by_length_with(low_inclusive=False), "the lower bound is inclusive"),
    (by_length_with(per_total=True), "you divided by the number of all examples"),
    (by_length_with(counts=True), "you returned the number of matches"),
    (no_empty_guard, "a bucket with no examples has exact match 0.0"),
    (no_open_bound, "upper bound is None"),
    (lambda exact, lengths, buckets: [0.5], "one share per bucket"),
    (lambda exact, lengths, buckets: [0.0] * len(buckets), "the shares are"),
])
def test_exact_match_by_length_mistakes(answer, hint):
    assert_hint(check_exact_match_by_length, answer, hint)
