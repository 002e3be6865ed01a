"""Chapter 9's checks accept the notebook's solutions and name each typical mistake."""

from __future__ import annotations

import pytest
import torch

from seq2code import rerank
from seq2code.averaging import WeightAverage
from seq2code.exercises.ch09 import check_average_update, check_oracle, check_rerank_pick


def average_update(bar, theta, n, decay):
    d = min(decay, (1 + n) / (10 + n))
    return d * bar + (1 - d) * theta


def oracle(right):
    return sum(any(row) for row in right) / len(right)


def rerank_pick(forward, reverse, lengths, w_rev, w_len):
    scores = [f + w_rev * r + w_len * n for f, r, n in zip(forward, reverse, lengths, strict=True)]
    return max(range(len(scores)), key=lambda j: scores[j])


def library_average_update(bar, theta, n, decay):
    """The library's WeightAverage after n updates, its shadow set to bar first."""
    layer = torch.nn.Linear(1, 1)
    layer.weight = torch.nn.Parameter(theta.clone())
    average = WeightAverage(layer, decay)
    average.shadow = [bar.clone(), layer.bias.detach().clone()]
    average.updates = n - 1
    average.update()
    return average.shadow[0]


def not_attempted(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check,solution", [
    (check_average_update, average_update),
    (check_average_update, library_average_update),
    (check_oracle, oracle),
    (check_oracle, rerank.oracle),
    (check_rerank_pick, rerank_pick),
    (check_rerank_pick, lambda f, r, n, w_rev, w_len: rerank.choose(
        rerank.Weights(w_rev, w_len), [f], [r], [n])[0]),
])
def test_solutions_pass(check, solution):
    assert check(solution, strict=True).correct


@pytest.mark.parametrize("check", [check_average_update, check_oracle, check_rerank_pick])
def test_stub_is_not_attempted(check):
    assert check(not_attempted).status == "not attempted"


@pytest.mark.parametrize("wrong,hint", [
    (lambda bar, theta, n, d: d * bar + (1 - d) * theta, "warm-up is missing"),
    (lambda bar, theta, n, d: average_update(theta, bar, n, d), "swapped"),
    (lambda bar, theta, n, d: max(d, (1 + n) / (10 + n)) * bar
     + (1 - max(d, (1 + n) / (10 + n))) * theta, "min, not max"),
    (lambda bar, theta, n, d: average_update(bar, theta, n - 1, d), "not with n - 1"),
    (lambda bar, theta, n, d: bar, "differ"),
])
def test_average_mistakes_are_named(wrong, hint):
    feedback = check_average_update(wrong)
    assert not feedback.correct and hint in feedback.message


@pytest.mark.parametrize("wrong,hint", [
    (lambda right: sum(row[0] for row in right) / len(right), "beam's top"),
    (lambda right: sum(sum(row) for row in right) / len(right), "counts once"),
    (lambda right: sum(sum(row) for row in right) / sum(len(r) for r in right),
     "share of right *candidates*"),
    (lambda right: sum(any(row) for row in right), "not the count"),
    (lambda right: 100 * oracle(right), "not a percentage"),
    (lambda right: "0.8", "return a number"),
])
def test_oracle_mistakes_are_named(wrong, hint):
    feedback = check_oracle(wrong)
    assert not feedback.correct and hint in feedback.message


def _scores(forward, reverse, lengths, w_rev, w_len, sign=1, rev=1):
    return [f + rev * w_rev * r + sign * w_len * n
            for f, r, n in zip(forward, reverse, lengths, strict=True)]


@pytest.mark.parametrize("wrong,hint", [
    (lambda *a: min(range(3), key=lambda j: _scores(*a)[j]), "*lowest* score"),
    (lambda *a: max(range(3), key=lambda j: _scores(*a, rev=0)[j]), "reverse model's opinion"),
    (lambda f, r, n, w_rev, w_len: rerank_pick(f, r, n, w_rev, 0.0), "length term is missing"),
    (lambda *a: max(range(3), key=lambda j: _scores(*a, sign=-1)[j]), "not subtracted"),
    (lambda *a: max(range(2, -1, -1), key=lambda j: _scores(*a)[j]), "keep the first"),
    (lambda *a: 0, "expected candidate"),
    (lambda *a: 1.0, "an int"),
])
def test_rerank_mistakes_are_named(wrong, hint):
    feedback = check_rerank_pick(wrong)
    assert not feedback.correct and hint in feedback.message
