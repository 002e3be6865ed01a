"""Coverage (chapter 7): the coverage vector, its place in the score, its loss."""

from __future__ import annotations

import torch

from seq2code.batching import collate
from seq2code.models import build_model
from seq2code.models.attention import AdditiveAttention
from seq2code.models.copy import pack_source
from seq2code.models.coverage import CoverageAttention, coverage_loss, repeated_attention
from seq2code.training import TrainConfig, train
from seq2code.vocab import EOS_ID, SOS_ID


def coverage_loss_by_hand(attention, mask):
    total, steps = 0.0, 0
    for b in range(attention.size(0)):
        coverage = torch.zeros(attention.size(2))
        for t in range(attention.size(1)):
            if mask[b, t]:
                total += float(torch.minimum(attention[b, t], coverage).sum())
                steps += 1
            coverage = coverage + attention[b, t]
    return total / steps


def test_coverage_loss_matches_the_definition():
    torch.manual_seed(0)
    attention = torch.softmax(torch.randn(2, 5, 4), -1)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    torch.testing.assert_close(coverage_loss(attention, mask),
                               torch.tensor(coverage_loss_by_hand(attention, mask)))


def test_coverage_loss_is_zero_without_repeats_and_counts_them():
    once = torch.eye(4).unsqueeze(0)  # step t looks at word t only
    assert float(coverage_loss(once, torch.ones(1, 4, dtype=torch.bool))) == 0.0
    assert repeated_attention(once[0]) == 0.0
    stuck = torch.zeros(1, 4, 4)
    stuck[..., 0] = 1.0  # every step looks at word 0
    assert float(coverage_loss(stuck, torch.ones(1, 4, dtype=torch.bool))) == 0.75
    assert repeated_attention(stuck[0]) == 3.0


def test_coverage_attention_reduces_to_additive_attention_at_zero_coverage():
    torch.manual_seed(0)
    plain, cov = AdditiveAttention(6, 5, 7), CoverageAttention(6, 5, 7)
    cov.load_state_dict({**plain.state_dict(), "w_c.weight": torch.randn(7, 1),
                         "w_c.bias": torch.zeros(7)})
    query, values = torch.randn(2, 6), torch.randn(2, 3, 5)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    for a, b in zip(plain(query, values, mask), cov(query, values, mask), strict=True):
        torch.testing.assert_close(a, b)
    # a coverage that differs changes the weights
    _, moved = cov(query, values, mask, coverage=torch.tensor([[3.0, 0, 0], [0, 0, 0]]))
    assert not torch.allclose(moved[0], plain(query, values, mask)[1][0])


def test_decoder_state_carries_the_sum_of_past_attention():
    torch.manual_seed(0)
    model = build_model("coverage", 30, 9, emb_dim=8, hidden_dim=12).eval()
    src = pack_source(torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([[9, 10, 4], [9, 10, 0]]),
                      30)
    enc = model.encode(src, torch.tensor([3, 2]))
    state = model.decoder.init_state(enc)
    assert torch.equal(state.memory.coverage, torch.zeros(2, 3))
    total = torch.zeros(2, 3)
    prev = torch.full((2,), SOS_ID)
    for _ in range(4):
        step = model.decoder(prev, state, enc)
        total = total + step.attention
        state = step.state
        prev = step.logits.argmax(-1)
        torch.testing.assert_close(state.memory.coverage, total)


def test_training_adds_the_coverage_loss():
    pairs = [(pack_source(torch.tensor([4, 5, 6]), torch.tensor([9, 10, 4]), 30).tolist(),
              [SOS_ID, 10, 4, 9, EOS_ID])] * 8
    losses = {}
    for weight in (0.0, 5.0):
        torch.manual_seed(0)
        model = build_model("coverage", 30, 9, emb_dim=8, hidden_dim=12, cov_weight=weight)
        history = train(model, pairs, pairs, TrainConfig(epochs=1, batch_size=8),
                        device="cpu", progress=False)
        losses[weight] = history.train_loss[0]
    batch = collate(pairs, range(8))
    assert batch.tgt_out.size(1) == 4
    # 4 steps over 3 words: some attention must repeat, so a weight of 5 adds a clear amount
    assert losses[5.0] > losses[0.0] + 0.5
