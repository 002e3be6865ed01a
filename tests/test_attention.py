"""Additive attention: masking, the precomputed form against the literal concatenation,
weights that sum to one, and the decoder's weights."""

import pytest
import torch

from seq2code.batching import collate
from seq2code.models import AdditiveAttention, build_model, masked_softmax
from seq2code.vocab import EOS_ID, SOS_ID


@pytest.fixture(autouse=True)
def _seed():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def test_masked_softmax_puts_exactly_zero_on_padding():
    scores = torch.tensor([[1.0, 2.0, 3.0, 50.0], [0.5, -1.0, 9.0, 9.0]])
    mask = torch.tensor([[True, True, True, False], [True, False, True, True]])
    weights = masked_softmax(scores, mask)
    assert weights[0, 3] == 0 and weights[1, 1] == 0
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    torch.testing.assert_close(weights[0, :3], torch.softmax(scores[0, :3], -1))


def test_masked_softmax_broadcasts_over_query_steps():
    scores = torch.randn(2, 5, 4)  # [B, T, S]
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    weights = masked_softmax(scores, mask)
    assert (weights[0, :, 2:] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 5))


def test_precomputed_form_equals_the_literal_concatenation():
    attention = AdditiveAttention(query_dim=6, key_dim=5, attn_dim=7)
    query, values = torch.randn(3, 6), torch.randn(3, 4, 5)
    keys = attention.project_keys(values)
    torch.testing.assert_close(attention.scores(query, keys),
                               attention.concat_scores(query, values))
    # and by hand: v^T tanh(W [h_t; h_s]) with W = [W_t W_s]
    W = torch.cat([attention.W_t.weight, attention.W_s.weight], dim=1)
    by_hand = torch.stack([torch.stack([attention.v.weight[0] @ torch.tanh(
        W @ torch.cat([query[b], values[b, s]])) for s in range(4)]) for b in range(3)])
    torch.testing.assert_close(attention.scores(query, keys), by_hand)


def test_context_is_the_weighted_sum_and_ignores_padding():
    attention = AdditiveAttention(4, 4, 8)
    query, values = torch.randn(2, 4), torch.randn(2, 5, 4)
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    context, weights = attention(query, values, mask, attention.project_keys(values))
    torch.testing.assert_close(context, (weights.unsqueeze(-1) * values).sum(1))
    changed = values.clone()
    changed[0, 3:] = 100.0  # whatever sits at padding cannot change the result
    context2, weights2 = attention(query, changed, mask, attention.project_keys(changed))
    torch.testing.assert_close(context2[0], context[0])
    torch.testing.assert_close(weights2, weights)
    literal_context, literal_weights = attention(query, values, mask)  # keys=None: literal
    torch.testing.assert_close(literal_context, context)
    torch.testing.assert_close(literal_weights, weights)


def test_decoder_weights_shape_mask_and_sum_with_mixed_lengths():
    model = build_model("attention", 20, 30, emb_dim=16, hidden_dim=24)
    lengths = [2, 7, 4]
    pairs = [(list(range(4, 4 + n)), [SOS_ID, 5, 6, 7, EOS_ID]) for n in lengths]
    batch = collate(pairs, range(3))
    out = model(batch.src, batch.src_lens, batch.tgt_in, teacher_forcing=0.5,
                generator=torch.Generator().manual_seed(0))
    assert out.attention.shape == (3, 4, 7)  # [B, T, S]
    for b, n in enumerate(lengths):
        assert (out.attention[b, :, n:] == 0).all()
        assert (out.attention[b, :, :n] > 0).all()
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(3, 4))


def test_precompute_flag_gives_the_same_model_output():
    fast = build_model("attention", 20, 30, emb_dim=16, hidden_dim=24)
    literal = build_model("attention", 20, 30, emb_dim=16, hidden_dim=24,
                          precompute_keys=False)
    literal.load_state_dict(fast.state_dict())
    pairs = [([4, 5, 6], [SOS_ID, 5, 6, EOS_ID]), ([7, 8, 9, 10, 11], [SOS_ID, 9, EOS_ID])]
    batch = collate(pairs, range(2))
    a = fast(batch.src, batch.src_lens, batch.tgt_in)
    b = literal(batch.src, batch.src_lens, batch.tgt_in)
    torch.testing.assert_close(a.logits, b.logits)
    torch.testing.assert_close(a.attention, b.attention)
    state = fast.decoder.init_state(fast.encode(batch.src, batch.src_lens))
    assert state.memory.shape == (2, 5, 24)  # the keys W_s h_s, once per sequence
