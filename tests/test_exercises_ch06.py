"""Chapter 6's exercise checks: the notebook's solutions pass, typical mistakes get their hint."""

import pytest
import torch
from test_exercises import assert_hint, chapter_tests, verdict

from seq2code.exercises import CORRECT
from seq2code.exercises.ch06 import check_bridge, check_normalised_scores, check_reorder_state

CHAPTER = "06_beam_and_bidirectional"
CHECKS = [(check_normalised_scores, "normalised_scores"), (check_bridge, "bridge"),
          (check_reorder_state, "reorder_state")]


test_the_notebooks_solution_passes, test_the_stub_is_not_attempted = chapter_tests(
    CHAPTER, CHECKS)


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda lp, n, a: lp * n ** a, "do not multiply"),
    (lambda lp, n, a: lp / n, "to the power alpha"),
    (lambda lp, n, a: lp / n.float().log() ** a, "not by its logarithm"),
    (lambda lp, n, a: lp ** a / n, "exponent of the length"),
    (lambda lp, n, a: lp, "unchanged"),
    (lambda lp, n, a: lp / (n - 1).clamp(min=1) ** a, "<eos> included"),
    (lambda lp, n, a: (lp / n ** a)[:-1], "expected shape [4]"),
])
def test_normalised_score_mistakes(answer, hint):
    assert_hint(check_normalised_scores, answer, hint)


def test_normalised_scores_as_a_list_pass():
    assert verdict(check_normalised_scores,
                   lambda lp, n, a: (lp / n ** a).tolist()).status == CORRECT


def _cat(h_n):
    return torch.cat([h_n[0], h_n[1]], dim=-1)


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda h_n, W, b: torch.tanh(_cat(h_n) @ W.T + b), "unsqueeze(0)"),
    (lambda h_n, W, b: (_cat(h_n) @ W.T + b).unsqueeze(0), "apply tanh"),
    (lambda h_n, W, b: torch.tanh(_cat(h_n) @ W.T).unsqueeze(0), "bias"),
    (lambda h_n, W, b: torch.tanh(torch.cat([h_n[1], h_n[0]], -1) @ W.T + b).unsqueeze(0),
     "h_n[0] is the forward"),
    (lambda h_n, W, b: torch.tanh(h_n.reshape(h_n.size(1), -1) @ W.T + b).unsqueeze(0),
     "mixes the rows"),
    (lambda h_n, W, b: torch.tanh(h_n[0] @ W.T + b).unsqueeze(0), "shape mismatch"),
    (lambda h_n, W, b: torch.tanh(_cat(h_n) @ W + b).unsqueeze(0), "shape mismatch"),
])
def test_bridge_mistakes(answer, hint):
    assert_hint(check_bridge, answer, hint)


def test_bridge_by_transpose_and_reshape_passes():
    def bridge(h_n, W, b):
        both = h_n.transpose(0, 1).reshape(h_n.size(1), -1)  # [B, 2H], right order
        return torch.tanh(both @ W.T + b).unsqueeze(0)

    assert verdict(check_bridge, bridge).status == CORRECT


def _rows(parents, K, offset=None):
    offset = K if offset is None else offset
    return (torch.arange(parents.size(0)).unsqueeze(1) * offset + parents).view(-1)


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda state, parents, K: state, "unchanged"),
    (lambda state, parents, K: tuple(t.index_select(1, parents.view(-1)) for t in state),
     "offset b K"),
    (lambda state, parents, K: tuple(t.index_select(1, _rows(parents, K, parents.size(0)))
                                     for t in state), "not b B"),
    (lambda state, parents, K: (state[0].index_select(1, _rows(parents, K)), state[1]),
     "reorder c too"),
    (lambda state, parents, K: tuple(t.index_select(0, _rows(parents, K)) for t in state),
     "axis 1"),
    (lambda state, parents, K: state[0].index_select(1, _rows(parents, K)), "the pair (h, c)"),
])
def test_reorder_mistakes(answer, hint):
    assert_hint(check_reorder_state, answer, hint)


def test_reorder_with_fancy_indexing_passes():
    def reorder(state, parents, K):
        rows = _rows(parents, K)
        return state[0][:, rows], state[1][:, rows]

    assert verdict(check_reorder_state, reorder).status == CORRECT
