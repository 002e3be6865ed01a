"""Chapter 7's checks accept the notebook's solutions and name each typical mistake."""

from __future__ import annotations

import pytest
import torch

from seq2code.exercises.ch07 import check_coverage_loss, check_extend_target, check_mixture
from seq2code.models.copy import extend_target as library_extend_target
from seq2code.vocab import UNK_ID


def extend_target(code_tokens, src_tokens, vocab):
    first = {}
    for i, tok in enumerate(src_tokens):
        first.setdefault(tok, i)
    return [vocab.stoi[t] if t in vocab else len(vocab) + first[t] if t in first else UNK_ID
            for t in code_tokens]


def mixture(p_vocab, attention, src_ext, p_gen):
    extended = torch.nn.functional.pad(p_gen * p_vocab, (0, attention.size(1)))
    return extended.scatter_add(1, src_ext, (1 - p_gen) * attention)


def coverage_loss(attention):
    coverage = attention.cumsum(0) - attention
    return torch.minimum(attention, coverage).sum()


def not_attempted(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check,solution", [
    (check_extend_target, extend_target),
    (check_extend_target, lambda code, src, v: library_extend_target(code, src, v)[1:-1]),
    (check_mixture, mixture),
    (check_coverage_loss, coverage_loss),
])
def test_solutions_pass(check, solution):
    assert check(solution, strict=True).correct


@pytest.mark.parametrize("check", [check_extend_target, check_mixture, check_coverage_loss])
def test_stub_is_not_attempted(check):
    assert check(not_attempted).status == "not attempted"


def _last_position(code, src, vocab):
    last = {tok: i for i, tok in enumerate(src)}
    return [vocab.stoi[t] if t in vocab else len(vocab) + last[t] if t in last else UNK_ID
            for t in code]


def _no_offset(code, src, vocab):
    return [i - len(vocab) if i >= len(vocab) else i for i in extend_target(code, src, vocab)]


def _source_first(code, src, vocab):
    first = {}
    for i, tok in enumerate(src):
        first.setdefault(tok, i)
    return [len(vocab) + first[t] if t in first else vocab.stoi.get(t, UNK_ID) for t in code]


@pytest.mark.parametrize("wrong,words", [
    (lambda c, s, v: library_extend_target(c, s, v), "without <sos> and <eos>"),
    (_last_position, "*first* position"),
    (_no_offset, "V + i"),
    (lambda c, s, v: [v.stoi.get(t, UNK_ID) for t in c], "can be copied"),
    (_source_first, "keeps its vocabulary id"),
    (lambda c, s, v: [min(i, len(v)) if i == UNK_ID else i for i in extend_target(c, s, v)]
     [:-1] + [len(v)], "cannot be written"),
    (lambda c, s, v: "ids", "list of ints"),
])
def test_extend_target_mistakes(wrong, words):
    feedback = check_extend_target(wrong)
    assert feedback.status == "wrong" and words in feedback.message, feedback.message


def _pad(p_vocab, attention):
    return torch.nn.functional.pad(p_vocab, (0, attention.size(1)))


def _indexed_add(pv, a, e, g):
    """``out[rows, src_ext] += ...``: repeated indices are written once."""
    out = _pad(g * pv, a)
    out[torch.arange(e.size(0))[:, None], e] += (1 - g) * a
    return out


def _index_put(pv, a, e, g):
    out = _pad(g * pv, a)
    return out.index_put((torch.arange(e.size(0))[:, None].expand_as(e), e), (1 - g) * a)


def _index_add(pv, a, e, g):
    """The per-row ``index_add`` that the hint names: right."""
    out = _pad(g * pv, a)
    for row in range(e.size(0)):
        out[row].index_add_(0, e[row], (1 - g[row]) * a[row])
    return out


def test_mixture_with_index_add_passes():
    assert check_mixture(_index_add, strict=True).correct


@pytest.mark.parametrize("wrong,words", [
    # the natural scatter: overwrites P_vocab at vocabulary ids and keeps one repeat
    (lambda pv, a, e, g: _pad(g * pv, a).scatter(1, e, (1 - g) * a),
     "`scatter` keeps only one position's weight"),
    (lambda pv, a, e, g: _pad(g * pv, a).scatter(1, e, (1 - g) * a), "`scatter_add`"),
    (lambda pv, a, e, g: _pad(g * pv, a).scatter(1, e, (1 - g) * a), "also overwrites"),
    (_index_put, "`scatter` keeps only one position's weight"),
    (_indexed_add, "so does an indexed `+=`"),
    (lambda pv, a, e, g: _pad(g * pv, a) + torch.zeros_like(_pad(pv, a)).scatter(
        1, e, (1 - g) * a), "`scatter` keeps only one position's weight"),
    (lambda pv, a, e, g: _pad(g * pv, a).scatter_add(1, e, g * a), "not p_gen"),
    (lambda pv, a, e, g: _pad((1 - g) * pv, a).scatter_add(1, e, g * a), "swapped"),
    (lambda pv, a, e, g: _pad(g * pv, a).scatter(1, e, (1 - g) * a
                                                 + _pad(g * pv, a).gather(1, e)),
     "keeps only one position's weight"),
    (lambda pv, a, e, g: _pad(g * pv, a).scatter_add(1, e, a), "weighted by 1 - p_gen"),
    (lambda pv, a, e, g: mixture(pv, a, e, g)[:, :pv.size(1)], "V + S"),
    (lambda pv, a, e, g: g * pv + (1 - g) * a, "[B, V + S]"),
])
def test_mixture_mistakes(wrong, words):
    feedback = check_mixture(wrong)
    assert feedback.status == "wrong" and words in feedback.message, feedback.message


@pytest.mark.parametrize("wrong,words", [
    (lambda a: torch.minimum(a, a.cumsum(0)).sum(), "*before* t"),
    (lambda a: torch.maximum(a, a.cumsum(0) - a).sum(), "*minimum*"),
    (lambda a: torch.minimum(a, a.cumsum(1) - a).sum(), "dim 0"),
    (lambda a: torch.minimum(a, a.cumsum(0) - a).sum(1).mean(), "do not average"),
    (lambda a: torch.minimum(a, a.cumsum(0) - a).sum(1), "shape"),
])
def test_coverage_loss_mistakes(wrong, words):
    feedback = check_coverage_loss(wrong)
    assert feedback.status == "wrong" and words in feedback.message, feedback.message
