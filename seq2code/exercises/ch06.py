"""Checks for the exercises of chapter 6 (beam search and the bidirectional encoder).

- :func:`check_normalised_scores`: the length-normalised score ``log P(Y | x) / |Y|^alpha``;
- :func:`check_bridge`: the two directions' final states ``[2, B, H]`` into the decoder's
  ``[1, B, H]``, ``tanh(W [h_fwd; h_bwd] + b)``;
- :func:`check_reorder_state`: the LSTM state of ``B K`` rows reordered for the surviving beams.
"""

from __future__ import annotations

import torch

from seq2code.exercises import Hint, exercise, expect_close, expect_tensor, shape_error_hint


@exercise
def check_normalised_scores(normalised_scores):
    """normalised_scores(log_probs, lengths, alpha) = log_probs / lengths ** alpha."""
    log_probs = torch.tensor([-1.2, -3.0, -0.4, -6.5])  # [N] log P(Y | x)
    lengths = torch.tensor([2, 5, 1, 9])  # [N] |Y|, <eos> counted
    for alpha in (0.6, 1.0):
        expected = log_probs / lengths ** alpha
        mistakes = [
            (log_probs * lengths ** alpha, "divide by |Y|^alpha, do not multiply: a longer "
             "hypothesis should be penalised less, not more"),
            (log_probs / lengths, "raise the length to the power alpha: log_probs / "
             "lengths ** alpha (alpha = 1 is only one choice)"),
            (log_probs / lengths.float().log() ** alpha,
             "divide by the length itself to the power alpha, not by its logarithm"),
            (log_probs ** alpha / lengths, "alpha is the exponent of the length, not of the "
             "log-probability"),
            (log_probs.clone(), "you returned the log-probabilities unchanged: divide by "
             "lengths ** alpha"),
            (log_probs / (lengths - 1).clamp(min=1) ** alpha, "|Y| counts every scored token, "
             "<eos> included: use the lengths as given"),
        ]
        got = normalised_scores(log_probs.clone(), lengths.clone(), alpha)
        if isinstance(got, (list, tuple)):
            got = torch.tensor(got)
        expect_close(got, expected, f"normalised_scores(..., alpha={alpha})",
                     mistakes=mistakes)
    # The score must change which hypothesis wins: the longer one, per token better.
    short_long = normalised_scores(torch.tensor([-1.0, -1.6]), torch.tensor([1, 4]), 1.0)
    if not float(short_long[1]) > float(short_long[0]):
        raise Hint("with alpha = 1, [-1.0 over 1 token, -1.6 over 4 tokens] should favour "
                   "the second (-0.4 per token)")


def _bridge_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``h_n`` ``[2, B, H]``, ``W`` ``[H, 2H]``, ``b`` ``[H]`` with distinct values everywhere."""
    B, H = 3, 4
    h_n = torch.linspace(-1.0, 1.0, 2 * B * H).view(2, B, H)
    h_n = h_n * torch.tensor([1.0, -0.7]).view(2, 1, 1) + 0.05 * torch.arange(B).view(1, B, 1)
    W = torch.linspace(-0.5, 0.6, H * 2 * H).view(H, 2 * H).roll(5, dims=1)
    b = torch.linspace(-0.2, 0.3, H)
    return h_n, W, b


@exercise
def check_bridge(bridge):
    """bridge(h_n, W, b) = tanh(W [h_fwd; h_bwd] + b), shaped [1, B, H] for the decoder."""
    h_n, W, b = _bridge_case()
    B, H = h_n.shape[1], h_n.shape[2]
    both = torch.cat([h_n[0], h_n[1]], dim=-1)  # [B, 2H]
    expected = torch.tanh(both @ W.T + b).unsqueeze(0)  # [1, B, H]
    try:
        got = bridge(h_n.clone(), W.clone(), b.clone())
    except RuntimeError as error:
        hint = shape_error_hint(error, "h_n is [2, B, H] (direction, batch, hidden): "
                                "concatenate h_n[0] and h_n[1] along the last axis into "
                                "[B, 2H], then multiply by W.T ([2H, H])")
        if hint:
            raise hint from error
        raise
    got = expect_tensor(got, "bridge(h_n, W, b)")
    if got.shape == (B, H):
        raise Hint("the decoder's LSTM state is [layers, B, H]: add the layer axis with "
                   ".unsqueeze(0), giving [1, B, H]")
    swapped = torch.cat([h_n[1], h_n[0]], dim=-1)
    viewed = h_n.reshape(B, 2 * H)  # rows of different examples mixed
    mistakes = [
        (both @ W.T + b, "apply tanh: the bridge is tanh(W [h_fwd; h_bwd] + b), like the "
         "states an LSTM produces (between -1 and 1)"),
        ((both @ W.T + b).unsqueeze(0), "apply tanh: the bridge is tanh(W [h_fwd; h_bwd] + b)"),
        (torch.tanh(both @ W.T).unsqueeze(0), "add the bias b before the tanh"),
        (torch.tanh(swapped @ W.T + b).unsqueeze(0), "the order is [h_fwd; h_bwd]: h_n[0] is "
         "the forward direction, h_n[1] the backward one"),
        (torch.tanh(viewed @ W.T + b).unsqueeze(0), "h_n.view(B, 2H) mixes the rows of "
         "different examples (h_n's first axis is the direction): use "
         "torch.cat([h_n[0], h_n[1]], dim=-1)"),
    ]
    expect_close(got, expected, "bridge(h_n, W, b)", mistakes=mistakes)


def _reorder_case() -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor, int]:
    """An LSTM state of ``B K = 2 x 3`` rows whose every number tells its row, and parents."""
    B, K, H = 2, 3, 4
    rows = torch.arange(B * K, dtype=torch.float32).view(1, B * K, 1)  # [1, N, 1]
    h = rows + 0.01 * torch.arange(H).view(1, 1, H)  # [1, N, H]: row r holds r.00 .. r.03
    c = -h
    parents = torch.tensor([[2, 2, 0], [1, 0, 0]])  # [B, K]: beam of the same source
    return (h, c), parents, K


@exercise
def check_reorder_state(reorder_state):
    """reorder_state((h, c), parents, K): row b K + k copies row b K + parents[b, k]."""
    (h, c), parents, K = _reorder_case()
    rows = (torch.arange(parents.size(0)).unsqueeze(1) * K + parents).view(-1)  # [N]
    try:
        got = reorder_state((h.clone(), c.clone()), parents.clone(), K)
    except (RuntimeError, IndexError) as error:
        hint = shape_error_hint(error, "h and c are [1, N, H]: the rows (beams) are axis 1")
        if hint:
            raise hint from error
        if isinstance(error, IndexError) or "out of range" in str(error):
            raise Hint("an index is out of range: the rows of the state are axis 1 of "
                       "[1, N, H], and row b K + k is beam k of source b") from error
        raise
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Hint("return the pair (h, c), both reordered")
    new_h, new_c = got
    flat = parents.view(-1)
    mistakes_h = [
        (h, "the state is unchanged: select the parents' rows with "
         "h.index_select(1, rows)"),
        (h.index_select(1, flat), "parents[b, k] counts beams *within* source b: add the "
         "offset b K to get the row, rows = b K + parents[b, k]"),
        (h.index_select(1, (torch.arange(parents.size(0)).unsqueeze(1) * parents.size(0)
                             + parents).view(-1)),
         "the offset of source b is b K (K beams per source), not b B"),
    ]
    expect_close(new_h, h.index_select(1, rows), "the new h", mistakes=mistakes_h)
    expect_close(new_c, c.index_select(1, rows), "the new c",
                 mistakes=[(c, "reorder c too: the cell state belongs to the beam as much "
                            "as h does")])
