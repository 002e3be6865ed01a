"""Chapter 6's exercise checks: the notebook's solutions pass, typical mistakes get their hint."""

import pytest
import torch
from test_exercises import assert_hint, chapter_tests, verdict

from seq2code.exercises import CORRECT
from seq2code.exercises.ch06 import (
    check_beam_step,
    check_bridge,
    check_final_states,
    check_normalised_scores,
    check_reorder_state,
)

CHAPTER = "06_beam_and_bidirectional"
CHECKS = [(check_normalised_scores, "normalised_scores"), (check_bridge, "bridge"),
          (check_reorder_state, "reorder_state"), (check_beam_step, "beam_step"),
          (check_final_states, "final_states")]


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
     "offset b k"),
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


# --------------------------------------------------------------------------------------
# One beam step
# --------------------------------------------------------------------------------------

def beam(add_scores=True, flatten=True, parent_by="V", swap=False, offset=False,
         transpose_scores=False, order="sorted", over_batch=False):
    """A beam step with one knob per typical mistake."""
    def beam_step(log_probs, scores, K):
        B, V = scores.size(0), log_probs.size(-1)
        running = (scores.T if transpose_scores else scores).reshape(-1, 1)  # [B K, 1]
        total = running + log_probs if add_scores else log_probs  # [B K, V]
        if not flatten:
            return total.topk(K, dim=-1)[0], None, None
        if over_batch:
            top, ids = total.view(-1).topk(K)
            return top, ids // V, ids % V
        top, ids = total.view(B, K * V).topk(K, dim=-1)
        if order == "reversed":
            top, ids = top.flip(-1), ids.flip(-1)
        divisor = V if parent_by == "V" else K
        parents, tokens = ids // divisor, ids % divisor
        if swap:
            parents, tokens = tokens, parents
        if offset:
            parents = parents + K * torch.arange(B).unsqueeze(1)
        return top, parents, tokens
    return beam_step


def own_best(log_probs, scores, K):
    """Every beam keeps its own best extension."""
    B = scores.size(0)
    best, token = (scores.reshape(-1, 1) + log_probs).max(dim=-1)
    return best.view(B, K), torch.arange(K).expand(B, K), token.view(B, K)


@pytest.mark.parametrize(("answer", "hint"), [
    (beam(add_scores=False), "add each beam's running score"),
    (own_best, "each beam kept its own best extension"),
    (beam(flatten=False), "topk ran over each beam's V tokens"),
    (beam(over_batch=True), "topk ran over every sentence at once"),
    (beam(swap=True), "parent and token are swapped"),
    (beam(parent_by="K"), "not by K"),
    (beam(offset=True), "leave out the offset b k"),
    (beam(transpose_scores=True), "not the transpose"),
    (beam(order="reversed"), "best first"),
    (lambda lp, s, K: beam()(lp, s, K)[:2], "return three tensors"),
    (lambda lp, s, K: (None, None, None), "is None"),
    (lambda lp, s, K: s.unsqueeze(-1) + lp, "a shape mismatch"),
])
def test_beam_step_mistakes(answer, hint):
    assert_hint(check_beam_step, answer, hint)


def test_beam_step_with_a_three_axis_view_passes():
    def beam_step(log_probs, scores, K):
        B, V = scores.shape[0], log_probs.shape[-1]
        total = scores[:, :, None] + log_probs.reshape(B, K, V)  # [B, K, V]
        top, ids = total.flatten(1).sort(dim=-1, descending=True)
        ids = ids[:, :K]
        return top[:, :K], torch.div(ids, V, rounding_mode="floor"), ids.remainder(V)

    assert verdict(check_beam_step, beam_step).status == CORRECT


# --------------------------------------------------------------------------------------
# The final states of a two-layer bidirectional LSTM
# --------------------------------------------------------------------------------------

def _batch_rows(output):
    return torch.arange(output.size(0))


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda o, h, n: torch.cat([h[0], h[1]], -1), "the *first* layer's"),
    (lambda o, h, n: torch.cat([h[2], h[3]], -1), "right for two layers but not for three"),
    (lambda o, h, n: torch.cat([h[-1], h[-2]], -1), "the order is [forward; backward]"),
    (lambda o, h, n: h[-1], "backward direction only"),
    (lambda o, h, n: h[-2], "forward direction only"),
    (lambda o, h, n: h[-2] + h[-1], "do not add them"),
    (lambda o, h, n: o[:, -1], "the last *column*"),
    (lambda o, h, n: o[_batch_rows(o), n - 1], "ends at the *first* token"),
    (lambda o, h, n: o[:, 0], "the forward one after the first token only"),
    (lambda o, h, n: h[-2:].reshape(h.size(1), -1), "mixes the rows"),
    (lambda o, h, n: torch.cat(list(h.view(2, -1, *h.shape[1:])[:, -1]), -1),
     "ordered layer by layer"),
    (lambda o, h, n: torch.cat([h[-2], h[-1]], 0), "expected shape [3, 10]"),
    (lambda o, h, n: None, "forget to `return`"),
])
def test_final_states_mistakes(answer, hint):
    assert_hint(check_final_states, answer, hint)


def test_final_states_by_other_right_means_pass():
    def by_view(output, h_n, lengths):
        layers, B, H = h_n.size(0) // 2, h_n.size(1), h_n.size(2)
        return h_n.view(layers, 2, B, H)[-1].transpose(0, 1).reshape(B, 2 * H)

    def from_output(output, h_n, lengths):
        H = output.size(-1) // 2
        forward = output[torch.arange(output.size(0)), lengths - 1, :H]  # [B, H]
        return torch.cat([forward, output[:, 0, H:]], dim=-1)

    for answer in (by_view, from_output):
        assert verdict(check_final_states, answer).status == CORRECT
