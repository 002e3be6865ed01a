"""Batching: padding and masks, the shift by one, coverage, bucketing by length, seeds."""

from __future__ import annotations

import random

import pytest
import torch
from toy import batch_of

from seq2code.batching import Batch, collate, encode_pairs, make_batches, pad
from seq2code.vocab import EOS_ID, PAD_ID, SOS_ID, UNK_ID, Vocab


def _random_pairs(n: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """``n`` id pairs of random lengths (source 1-40, target 1-30 plus <sos>/<eos>)."""
    rng = random.Random(seed)
    src_lens = [rng.randint(1, 40) for _ in range(n)]
    tgt_lens = [rng.randint(1, 30) for _ in range(n)]
    return batch_of(src_lens, vocab=50, tgt_len=tgt_lens, seed=seed)[1]


def _padding(batches: list[Batch]) -> int:
    return sum(int((b.src == PAD_ID).sum()) + int((b.tgt == PAD_ID).sum()) for b in batches)


def test_pad_and_lengths():
    ids, lens = pad([[5, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID]]
    assert lens.tolist() == [3, 1]
    with pytest.raises(ValueError):
        pad([[5], []])


def test_masks_mark_exactly_the_padding():
    pairs = _random_pairs(100)
    for batch in make_batches(pairs, batch_size=16, shuffle=True, seed=3):
        positions = torch.arange(batch.src.size(1))
        expected = positions[None, :] < batch.src_lens[:, None]  # [B, S]
        assert torch.equal(batch.src_mask, expected)
        assert batch.src_mask.dtype == torch.bool
        # each row holds exactly its example, then padding
        for row, i in enumerate(batch.indices):
            src, tgt = pairs[i]
            assert batch.src[row, : len(src)].tolist() == src
            assert batch.tgt[row, : len(tgt)].tolist() == tgt
            assert (batch.tgt[row, len(tgt):] == PAD_ID).all()
        t_positions = torch.arange(batch.tgt.size(1))
        assert torch.equal(batch.tgt != PAD_ID,
                           t_positions[None, :] < batch.tgt_lens[:, None])


def test_shift_by_one():
    pairs = [([5, 6], [SOS_ID, 7, 8, 9, EOS_ID]), ([5], [SOS_ID, 7, EOS_ID])]
    (batch,) = make_batches(pairs, batch_size=2, by_length=False)
    assert batch.tgt_in.tolist() == [[SOS_ID, 7, 8, 9], [SOS_ID, 7, EOS_ID, PAD_ID]]
    assert batch.tgt_out.tolist() == [[7, 8, 9, EOS_ID], [7, EOS_ID, PAD_ID, PAD_ID]]
    assert torch.equal(batch.tgt_in[:, 1:], batch.tgt_out[:, :-1])
    assert batch.n_target_tokens == 4 + 2  # y_1..y_n and <eos>, no padding


def test_every_example_in_exactly_one_batch():
    pairs = _random_pairs(1003)
    for shuffle in (False, True):
        for by_length in (False, True):
            batches = make_batches(pairs, batch_size=64, shuffle=shuffle, by_length=by_length)
            seen = sorted(i for b in batches for i in b.indices)
            assert seen == list(range(1003))
            assert all(len(b) <= 64 for b in batches)
            assert sum(len(b) for b in batches) == 1003


def test_by_length_cuts_padding():
    pairs = _random_pairs(2000)
    random_order = make_batches(pairs, batch_size=32, shuffle=True, by_length=False, seed=1)
    bucketed = make_batches(pairs, batch_size=32, shuffle=True, by_length=True, seed=1)
    tgt_pad = lambda bs: sum(int((b.tgt_out == PAD_ID).sum()) for b in bs)  # noqa: E731
    assert tgt_pad(bucketed) < 0.2 * tgt_pad(random_order)  # the target decides: see make_batches
    assert _padding(bucketed) < _padding(random_order)


def test_same_seed_same_batches_other_seed_other_order():
    pairs = _random_pairs(500)
    first = make_batches(pairs, batch_size=32, shuffle=True, seed=7)
    again = make_batches(pairs, batch_size=32, shuffle=True, seed=7)
    other = make_batches(pairs, batch_size=32, shuffle=True, seed=8)
    assert [b.indices for b in first] == [b.indices for b in again]
    assert all(torch.equal(a.src, b.src) and torch.equal(a.tgt, b.tgt)
               for a, b in zip(first, again, strict=True))
    assert [b.indices for b in first] != [b.indices for b in other]


def test_unshuffled_random_order_keeps_the_data_order():
    pairs = _random_pairs(10)
    batches = make_batches(pairs, batch_size=4, by_length=False)
    assert [b.indices for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_encode_pairs_frames_and_truncates():
    src_vocab = Vocab.build([["show", "me"]])
    tgt_vocab = Vocab.build([["print", "(", ")"]])
    pairs = encode_pairs([["show", "me", "now"]], [["print", "(", ")"]], src_vocab, tgt_vocab,
                         max_src_len=2, max_tgt_len=1)
    assert pairs == [([src_vocab.stoi["show"], src_vocab.stoi["me"]],
                      [SOS_ID, tgt_vocab.stoi["print"], EOS_ID])]
    (untruncated,) = encode_pairs([["show", "now"]], [["x"]], src_vocab, tgt_vocab)
    assert untruncated == ([src_vocab.stoi["show"], UNK_ID], [SOS_ID, UNK_ID, EOS_ID])
    with pytest.raises(ValueError):
        encode_pairs([["a"]], [], src_vocab, tgt_vocab)


def test_batch_to_device_keeps_everything():
    (batch,) = make_batches(_random_pairs(3), batch_size=3)
    moved = batch.to("cpu")
    assert torch.equal(moved.src, batch.src) and moved.indices == batch.indices
    assert len(moved) == 3


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError):
        make_batches(_random_pairs(3), batch_size=0)


def test_n_target_tokens_counts_the_scored_tokens_in_either_layout():
    pairs = [([5, 6], [SOS_ID, 7, EOS_ID]), ([5], [SOS_ID, 7, 8, 9, EOS_ID])]
    batch = collate(pairs, [0, 1])
    assert batch.n_target_tokens == int((batch.tgt_out != PAD_ID).sum()) == 2 + 4
    time_major = Batch(batch.src.T, batch.src_lens, batch.tgt.T, batch.tgt_lens, batch.indices)
    assert time_major.n_target_tokens == 6  # the benchmark's reference reads [T, B]
