"""Checks for the exercises of chapter 6 (beam search and the bidirectional encoder).

- :func:`check_normalised_scores`: the length-normalised score
  ``ell(Y) = log P(Y | x) / |Y|^gamma`` (``gamma`` is the argument ``alpha``);
- :func:`check_bridge`: the two directions' final states ``[2, B, H]`` into the decoder's
  ``[1, B, H]``, ``tanh(W [h_fwd; h_bwd] + b)``;
- :func:`check_reorder_state`: the LSTM state of ``B k`` rows reordered for the surviving beams
  (``k`` the beam width, the argument ``K``);
- :func:`check_beam_step`: one step of beam search, the ``k`` best of ``k V`` extensions;
- :func:`check_final_states`: the last layer's two final states of a multi-layer
  bidirectional LSTM, ``[h_n[-2]; h_n[-1]]``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

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
    """An LSTM state of ``B k = 2 x 3`` rows whose every number tells its row, and parents."""
    B, K, H = 2, 3, 4
    rows = torch.arange(B * K, dtype=torch.float32).view(1, B * K, 1)  # [1, N, 1]
    h = rows + 0.01 * torch.arange(H).view(1, 1, H)  # [1, N, H]: row r holds r.00 .. r.03
    c = -h
    parents = torch.tensor([[2, 2, 0], [1, 0, 0]])  # [B, K]: beam of the same source
    return (h, c), parents, K


@exercise
def check_reorder_state(reorder_state):
    """reorder_state((h, c), parents, K): row b k + j copies row b k + parents[b, j]
    (k = K, the beam width)."""
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
                       "[1, N, H], and row b k + j is beam j of source b") from error
        raise
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Hint("return the pair (h, c), both reordered")
    new_h, new_c = got
    flat = parents.view(-1)
    mistakes_h = [
        (h, "the state is unchanged: select the parents' rows with "
         "h.index_select(1, rows)"),
        (h.index_select(1, flat), "parents[b, j] counts beams *within* source b: add the "
         "offset b k to get the row, rows = b k + parents[b, j] (k = K)"),
        (h.index_select(1, (torch.arange(parents.size(0)).unsqueeze(1) * parents.size(0)
                             + parents).view(-1)),
         "the offset of source b is b k (k = K beams per source), not b B"),
    ]
    expect_close(new_h, h.index_select(1, rows), "the new h", mistakes=mistakes_h)
    expect_close(new_c, c.index_select(1, rows), "the new c",
                 mistakes=[(c, "reorder c too: the cell state belongs to the beam as much "
                            "as h does")])


# --------------------------------------------------------------------------------------
# One beam step
# --------------------------------------------------------------------------------------

def _beam_case(first: bool) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``log_probs`` ``[B k, V]`` and running ``scores`` ``[B, k]`` for ``B, k, V = 2, 3, 5``;
    ``first``: the first step, where only beam 0 of each sentence is alive."""
    B, K, V = 2, 3, 5
    g = torch.Generator().manual_seed(3 if first else 4)
    log_probs = torch.randn(B * K, V, generator=g).mul(1.5).log_softmax(dim=-1)  # [B K, V]
    if first:
        scores = torch.full((B, K), float("-inf"))
        scores[:, 0] = 0.0
    else:  # beam 0 far ahead: its extensions should fill most of the new beams
        scores = torch.tensor([[-0.2, -2.5, -3.1], [-0.9, -1.0, -4.0]])
    return log_probs, scores, K


def _beam_answer(log_probs: torch.Tensor, scores: torch.Tensor, K: int):
    """The right step: the k best of the k V extensions of each sentence, best first."""
    B, V = scores.size(0), log_probs.size(-1)
    total = (scores.unsqueeze(-1) + log_probs.view(B, K, V)).view(B, K * V)  # [B, K V]
    top, ids = total.topk(K, dim=-1)  # [B, K] each
    return top, ids // V, ids % V


def _beam_mistakes(log_probs: torch.Tensor, scores: torch.Tensor, K: int):
    """What typical wrong beam steps return, with their hints."""
    B, V = scores.size(0), log_probs.size(-1)
    total = scores.reshape(-1, 1) + log_probs  # [B K, V]
    mistakes = []
    top, ids = log_probs.view(B, K * V).topk(K, dim=-1)
    mistakes.append(((top, ids // V, ids % V),
                     "the new scores must add each beam's running score: log P(y_<t w) = "
                     "scores[b, j] + log p(w | beam j); without it a weak beam's best token "
                     "beats a strong beam's second best"))
    best, token = total.max(dim=-1)  # [B K] each: every beam's own best extension
    mistakes.append(((best.view(B, K), torch.arange(K).expand(B, K), token.view(B, K)),
                     "each beam kept its own best extension: the survivors are the k best of "
                     "all k V extensions of the sentence, so a strong beam may have several "
                     "children and a weak one none. Flatten [B, k, V] to [B, k V] before "
                     "topk"))
    top, ids = total.view(B, K * V).topk(K, dim=-1)
    mistakes.append(((top, ids % V, ids // V),
                     "parent and token are swapped: candidate r of [B, k V] is token r % V "
                     "of beam r // V"))
    mistakes.append(((top, ids // K, ids % K),
                     "candidate r of [B, k V] extends beam r // V with token r % V: divide "
                     "by the vocabulary size V, not by K"))
    mistakes.append(((top, ids // V + K * torch.arange(B).unsqueeze(1), ids % V),
                     "parents count the beams *within* the sentence, 0 to k - 1: leave out "
                     "the offset b k"))
    wrong_layout = (scores.T.reshape(-1, 1) + log_probs).view(B, K * V)  # rows as k B + b
    top, ids = wrong_layout.topk(K, dim=-1)
    mistakes.append(((top, ids // V, ids % V),
                     "row b k + j of log_probs is beam j of sentence b: add scores.view(-1, 1) "
                     "(or view log_probs as [B, k, V]), not the transpose"))
    return mistakes


def _same_step(got, want) -> bool:
    return all(tuple(g.shape) == tuple(w.shape) and torch.allclose(
        g.detach().double(), w.double(), atol=1e-5) for g, w in zip(got, want, strict=True))


@exercise
def check_beam_step(beam_step):
    """beam_step(log_probs, scores, K) keeps the k = K best of the k V extensions of each
    sentence (running score added), best first, with the parent beam and the token."""
    for first in (True, False):
        log_probs, scores, K = _beam_case(first)
        B, V = scores.size(0), log_probs.size(-1)
        try:
            got = beam_step(log_probs.clone(), scores.clone(), K)
        except RuntimeError as error:
            hint = shape_error_hint(error, f"log_probs is [B k, V] = [{B * K}, {V}] and scores "
                                    f"[B, k] = [{B}, {K}]: view log_probs as [B, k, V] and "
                                    "add scores.unsqueeze(-1)")
            if hint:
                raise hint from error
            raise
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise Hint("return three tensors: (new scores, parents, tokens), each [B, k]")
        new_scores = expect_tensor(got[0], "the new scores")
        if tuple(new_scores.shape) == (B * K, K):
            raise Hint(f"your scores are [B k, k] = [{B * K}, {K}]: topk ran over each beam's "
                       "V tokens. The survivors are the k best of all k V extensions of a "
                       "sentence: flatten to [B, k V] first")
        if tuple(new_scores.shape) == (K,):
            raise Hint(f"your scores are [k] = [{K}]: topk ran over every sentence at once. "
                       "Each sentence keeps its own k beams: topk over [B, k V], along dim=-1")
        got = (new_scores, expect_tensor(got[1], "the parents"),
               expect_tensor(got[2], "the tokens"))
        want = _beam_answer(log_probs, scores, K)
        if not _same_step(got, want):
            for wrong, hint in _beam_mistakes(log_probs, scores, K):
                if _same_step(got, wrong):
                    raise Hint(hint)
        if not _same_step(got, want) and all(
                tuple(g.shape) == tuple(w.shape) for g, w in zip(got, want, strict=True)):
            rows = [sorted(zip(g.tolist(), p.tolist(), t.tolist(), strict=True))
                    for g, p, t in zip(*got, strict=True)]
            wanted = [sorted(zip(g.tolist(), p.tolist(), t.tolist(), strict=True))
                      for g, p, t in zip(*want, strict=True)]
            if rows == wanted:
                raise Hint("the right beams, in another order: keep them best first (topk "
                           "sorts them)")
        expect_close(got[0], want[0], "the new scores")
        expect_close(got[1], want[1], "the parents")
        expect_close(got[2], want[2], "the tokens")


# --------------------------------------------------------------------------------------
# The final states of a two-layer bidirectional LSTM
# --------------------------------------------------------------------------------------

def _bilstm_case(layers: int):
    """A ``layers``-layer bidirectional LSTM run packed on a padded batch of rows of 6, 4
    and 2 tokens: ``output`` ``[B, S, 2H]`` (zeros at padding), ``h_n`` ``[2 layers, B, H]``,
    ``lengths`` ``[B]``."""
    B, S, E, H = 3, 6, 2, 5
    lstm = nn.LSTM(E, H, num_layers=layers, bidirectional=True, batch_first=True)
    g = torch.Generator().manual_seed(layers)  # the weights: the same on every machine
    with torch.no_grad():
        for p in lstm.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.6)
        x = torch.randn(B, S, E, generator=g)  # [B, S, E]
        lengths = torch.tensor([6, 4, 2])
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, (h_n, _) = lstm(packed)
        output, _ = pad_packed_sequence(out, batch_first=True, total_length=S)  # [B, S, 2H]
    return output, h_n, lengths


def _final_mistakes(output: torch.Tensor, h_n: torch.Tensor, lengths: torch.Tensor):
    layers, B, H = h_n.size(0) // 2, h_n.size(1), h_n.size(2)
    rows = torch.arange(B)
    by_direction = h_n.view(2, layers, B, H)  # the wrong layout: direction first
    return [
        (torch.cat([h_n[0], h_n[1]], dim=-1),
         "h_n[0] and h_n[1] are the *first* layer's states: h_n holds 2 states per layer, "
         "layer by layer (forward, then backward), so the last layer's are h_n[-2] and "
         "h_n[-1]"),
        (torch.cat([h_n[-1], h_n[-2]], dim=-1),
         "the order is [forward; backward]: h_n[-2] is the last layer's forward state, "
         "h_n[-1] its backward one"),
        (h_n[-1], "h_n[-1] alone is the backward direction only: concatenate the forward "
                  "state h_n[-2] and the backward h_n[-1] into [B, 2H]"),
        (h_n[-2], "h_n[-2] alone is the forward direction only: concatenate it with the "
                  "backward state h_n[-1] into [B, 2H]"),
        (h_n[-2] + h_n[-1], "concatenate the two directions ([B, 2H]), do not add them"),
        (output[:, -1],
         "output[:, -1] is the last *column*: padding (zeros) for the shorter rows, and for "
         "the backward direction the state after reading the last token only. The final "
         "states are in h_n"),
        (output[rows, lengths - 1],
         "output at each row's last token holds the right forward state, but the backward "
         "direction ends at the *first* token: its final state is h_n[-1] (or "
         "output[:, 0, H:])"),
        (output[:, 0],
         "output[:, 0] holds the right backward state, but the forward one after the first "
         "token only: the forward final state is h_n[-2]"),
        (h_n[-2:].reshape(B, 2 * H),
         "h_n[-2:].reshape(B, 2H) mixes the rows of different sentences (the first axis is "
         "the direction): concatenate along the last axis"),
        (torch.cat([by_direction[0, -1], by_direction[1, -1]], dim=-1),
         "h_n is ordered layer by layer, index 2 l + d (layer l, direction d): view it as "
         "[layers, 2, B, H], not [2, layers, B, H]"),
    ]


@exercise
def check_final_states(final_states):
    """final_states(output, h_n, lengths) = [h_n[-2]; h_n[-1]], the last layer's forward and
    backward final states, [B, 2H]."""
    for layers in (2, 3):
        output, h_n, lengths = _bilstm_case(layers)
        got = final_states(output.clone(), h_n.clone(), lengths.clone())
        got = expect_tensor(got, "final_states(output, h_n, lengths)")
        expected = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # [B, 2H]
        mistakes = _final_mistakes(output, h_n, lengths)
        if layers == 3:
            mistakes.insert(0, (torch.cat([h_n[2], h_n[3]], dim=-1),
                                "right for two layers but not for three: h_n[2] and h_n[3] "
                                "are the middle layer's states there; index from the end, "
                                "h_n[-2] and h_n[-1]"))
        expect_close(got, expected, f"final_states(...) with {layers} layers",
                     mistakes=mistakes)
