"""Checks for the exercises of chapter 9 (regularisation, seeds and reranking).

- :func:`check_average_update`: one update of the weight average,
  ``theta_bar <- d_n theta_bar + (1 - d_n) theta`` with ``d_n = min(d, (1 + n) / (10 + n))``;
- :func:`check_oracle`: the share of descriptions whose reference is among the candidates;
- :func:`check_rerank_pick`: the candidate of highest
  ``r(Y) = log P(Y | x) + w_rev log P(x | Y) + w_len |Y|``.
"""

from __future__ import annotations

import torch

from seq2code.exercises import Hint, exercise, expect_close

# (n, d): the warm-up decides d_n early, the decay later
_AVERAGE_CASES = [(1, 0.999), (4, 0.5), (30, 0.5), (5000, 0.999)]
_AVERAGE_MISTAKES = [  # (d_n as the mistake computes it, hint)
    (lambda n, d: d, "the warm-up is missing: d_n = min(d, (1 + n) / (10 + n)), not d (without "
     "it the random first weights weigh on the average for thousands of updates)"),
    (lambda n, d: 1 - min(d, (1 + n) / (10 + n)), "d_n and 1 - d_n are swapped: the average "
     "keeps d_n of itself and takes 1 - d_n of the new weights"),
    (lambda n, d: max(d, (1 + n) / (10 + n)), "the warm-up takes the *smaller* of d and "
     "(1 + n) / (10 + n): min, not max"),
    (lambda n, d: min(d, n / (9 + n)), "n counts the updates from 1: d_n = min(d, (1 + n) / "
     "(10 + n)) with this n, not with n - 1"),
]


@exercise
def check_average_update(average_update):
    """One update of the average for several update counts n and decays d, warm-up
    included."""
    g = torch.Generator().manual_seed(9)
    cases = [(n, d, torch.randn(3, 4, generator=g, dtype=torch.float64),
              torch.randn(3, 4, generator=g, dtype=torch.float64)) for n, d in _AVERAGE_CASES]
    got = [average_update(bar.clone(), theta.clone(), n, d) for n, d, bar, theta in cases]

    def update(d_n, bar, theta):
        return d_n * bar + (1 - d_n) * theta

    def matches(values, rule) -> bool:
        return all(isinstance(v, torch.Tensor) and v.shape == bar.shape
                   and torch.allclose(v.double(), update(rule(n, d), bar, theta), rtol=0,
                                      atol=1e-9)
                   for v, (n, d, bar, theta) in zip(values, cases, strict=True))

    if not matches(got, lambda n, d: min(d, (1 + n) / (10 + n))):
        for rule, hint in _AVERAGE_MISTAKES:
            if matches(got, rule):
                raise Hint(hint)
        for value, (n, d, bar, theta) in zip(got, cases, strict=True):
            expect_close(value, update(min(d, (1 + n) / (10 + n)), bar, theta),
                         f"the average after update n = {n} (d = {d})", atol=1e-9, rtol=0)
    return (f"checked: the update at n = {', '.join(str(n) for n, _ in _AVERAGE_CASES)} with "
            "its warm-up")


# Per description, whether each candidate (best beam score first) is the reference.
_ORACLE_CASE = [[False, True, False], [True, False, False], [False, False, False],
                [False, False, True], [True, True, False]]


@exercise
def check_oracle(oracle):
    """The share of descriptions with at least one right candidate."""
    right = [list(row) for row in _ORACLE_CASE]
    got = oracle(right)
    if isinstance(got, torch.Tensor):
        got = got.item()
    if not isinstance(got, int | float):
        raise Hint(f"return a number (a share between 0 and 1), got {type(got).__name__}")
    n = len(_ORACLE_CASE)
    expected = sum(any(row) for row in _ORACLE_CASE) / n  # 4 / 5
    mistakes = [
        (sum(row[0] for row in _ORACLE_CASE) / n, "that is the beam's top (row[0]) only: the "
         "oracle counts a description when its reference is *anywhere* among its candidates"),
        (sum(sum(row) for row in _ORACLE_CASE) / n, "a description counts once, however many "
         "of its candidates are right (the last one has two)"),
        (sum(sum(row) for row in _ORACLE_CASE) / sum(len(row) for row in _ORACLE_CASE),
         "that is the share of right *candidates*; the oracle is a share of descriptions"),
        (sum(any(row) for row in _ORACLE_CASE), "return the share, not the count: divide by "
         "the number of descriptions"),
        (100 * expected, "return a share between 0 and 1, not a percentage"),
    ]
    if abs(got - expected) > 1e-9:
        for wrong, hint in mistakes:
            if abs(got - wrong) < 1e-9:
                raise Hint(hint)
        raise Hint(f"expected {expected:.2f} for descriptions whose candidates are right as in "
                   f"{_ORACLE_CASE}, got {got}")
    return "checked: five descriptions, one with two right candidates, one with none"


# (log P(Y|x), log P(x|Y), |Y|, w_rev, w_len) per case: over the three, each typical mistake
# picks a different sequence of candidates
_RERANK_CASES = [
    ([-1.0, -1.5, -4.0], [-9.0, -2.0, -2.0], [3, 4, 9], 0.5, 0.1),
    ([-1.0, -0.9, -1.2], [-3.0, -3.0, -3.0], [1, 4, 9], 0.3, 0.1),
    ([-0.5, -0.5, -6.0], [-1.0, -1.0, -20.0], [3, 3, 8], 0.2, 0.0),
]


def _pick(forward, reverse, lengths, w_rev, w_len, *, sign=1, rev=True, length=True,
          lowest=False, last=False):
    scores = [f + (w_rev * r if rev else 0.0) + sign * (w_len * n if length else 0.0)
              for f, r, n in zip(forward, reverse, lengths, strict=True)]
    order = range(len(scores) - 1, -1, -1) if last else range(len(scores))
    return (min if lowest else max)(order, key=lambda j: scores[j])


_RERANK_MISTAKES = [
    ({"lowest": True}, "that is the candidate of the *lowest* score: the log-probabilities "
     "are negative, and the best candidate has the highest r(Y)"),
    ({"rev": False}, "the reverse model's opinion is missing: add w_rev log P(x | Y)"),
    ({"length": False}, "the length term is missing: add w_len |Y| (|Y| is the candidate's "
     "number of tokens)"),
    ({"sign": -1}, "w_len |Y| is added, not subtracted: a positive w_len rewards longer "
     "candidates, to make up for the log-probabilities they lose"),
    ({"last": True}, "two candidates tie in one case: keep the first (the beam's own better "
     "one), as max(range(k), key=...) does"),
]


@exercise
def check_rerank_pick(rerank_pick):
    """The index of the candidate with the highest r(Y), the first on ties."""
    got = []
    for forward, reverse, lengths, w_rev, w_len in _RERANK_CASES:
        pick = rerank_pick(list(forward), list(reverse), list(lengths), w_rev, w_len)
        if isinstance(pick, torch.Tensor):
            pick = pick.item()
        if not isinstance(pick, int) or isinstance(pick, bool):
            raise Hint(f"return the candidate's index (an int), got {type(pick).__name__}")
        got.append(pick)
    expected = [_pick(*case) for case in _RERANK_CASES]
    if got == expected:
        return "checked: three beams, a tie among them"
    for options, hint in _RERANK_MISTAKES:
        if got == [_pick(*case, **options) for case in _RERANK_CASES]:
            raise Hint(hint)
    i = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
    forward, reverse, lengths, w_rev, w_len = _RERANK_CASES[i]
    raise Hint(f"for log P(Y|x) {forward}, log P(x|Y) {reverse}, |Y| {lengths}, w_rev {w_rev}, "
               f"w_len {w_len}: expected candidate {expected[i]}, got {got[i]}")
