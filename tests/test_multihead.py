"""Multi-head scaled dot-product attention and the multi-head attention LSTM (chapter 8)."""

import math

import pytest
import torch
from torch import nn
from toy import batch_of

from seq2code.models import build_model
from seq2code.models.base import count_parameters
from seq2code.models.multihead import (
    MultiHeadAttention,
    head_attention,
    multihead_parameters,
    scaled_dot_product_attention,
)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def build(src=20, tgt=30, emb=16, hidden=24, **options):
    return build_model("multihead", src, tgt, emb, hidden, **options)


def test_scaled_dot_product_by_hand_and_padding_gets_zero():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 6)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert out.shape == (2, 3, 4, 6) and weights.shape == (2, 3, 4, 5)
    scores = torch.einsum("bhtd,bhsd->bhts", q, k) / math.sqrt(8)
    expected = torch.softmax(scores[0], dim=-1)
    torch.testing.assert_close(weights[0], expected)
    assert (weights[1, ..., 2:] == 0).all()
    torch.testing.assert_close(weights[1, ..., :2], torch.softmax(scores[1, ..., :2], dim=-1))
    torch.testing.assert_close(out, weights @ v)


def test_query_by_key_mask_is_shared_by_the_heads():
    torch.manual_seed(0)
    q, k = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4)
    lower = torch.ones(3, 3, dtype=torch.bool).tril().unsqueeze(0)  # [1, T, S]
    _, weights = scaled_dot_product_attention(q, k, k, lower)
    assert (weights.triu(1) == 0).all() and (weights[:, :, 0, 0] == 1).all()


@pytest.mark.parametrize("heads", [1, 4])
def test_equals_torch_multihead_attention_with_shared_weights(heads):
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(16, heads, batch_first=True)
    mine = MultiHeadAttention(16, heads).load_from_torch(reference)
    query, memory = torch.randn(3, 4, 16), torch.randn(3, 6, 16)
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3, [True] + [False] * 5])
    expected, expected_weights = reference(query, memory, memory, key_padding_mask=~mask,
                                           average_attn_weights=False)
    out, weights = mine(query, memory, mask)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(weights, expected_weights)


def test_heads_must_divide_the_size():
    with pytest.raises(ValueError, match="multiple of the heads"):
        MultiHeadAttention(10, 4)


def test_model_shapes_parameters_and_mean_of_heads():
    torch.manual_seed(0)
    model = build(heads=4).eval()
    batch, _ = batch_of([5, 3, 7])
    out = model(batch.src, batch.src_lens, batch.tgt_in)
    assert out.logits.shape == (3, 7, 30) and out.attention.shape == (3, 7, 7)
    heads = head_attention(model, batch.src, batch.src_lens, batch.tgt_in)
    assert heads.shape == (3, 4, 7, 7)
    torch.testing.assert_close(heads.mean(dim=1), out.attention)
    assert (heads[1, ..., 3:] == 0).all()  # padding of row 1
    torch.testing.assert_close(heads.sum(-1), torch.ones(3, 4, 7))
    for sizes in [(20, 30, 16, 24), (3176, 2778, 128, 256)]:
        built = build(*sizes)
        assert count_parameters(built) == multihead_parameters(*sizes)


def test_unknown_option_is_named():
    with pytest.raises(TypeError, match="layers"):
        build(layers=2)


def test_overfits_a_small_set():
    torch.manual_seed(0)
    batch, _ = batch_of([3, 5, 4, 6, 2, 5, 3, 4], vocab=16, tgt_len=4)
    model = build(16, 16, 32, 64)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        logits = model(batch.src, batch.src_lens, batch.tgt_in).logits
        loss = nn.functional.cross_entropy(logits.reshape(-1, 16), batch.tgt_out.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
