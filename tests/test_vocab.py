"""Vocab: fixed special ids, minimum frequency, unknown tokens, decoding, saving."""

from __future__ import annotations

import pytest
import torch

from seq2code.vocab import EOS_ID, PAD_ID, SOS_ID, SPECIALS, UNK_ID, Vocab

DATA = [["a", "b", "a"], ["a", "c", "b"], ["d"]]  # counts: a 3, b 2, c 1, d 1


def test_specials_at_fixed_ids():
    vocab = Vocab.build(DATA)
    assert vocab.itos[:4] == list(SPECIALS) == ["<pad>", "<sos>", "<eos>", "<unk>"]
    assert (PAD_ID, SOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    assert [vocab.stoi[s] for s in SPECIALS] == [0, 1, 2, 3]


def test_most_frequent_first_ties_alphabetical():
    assert Vocab.build(DATA).itos[4:] == ["a", "b", "c", "d"]
    assert Vocab.build([["z", "y"], ["y", "x", "z"]]).itos[4:] == ["y", "z", "x"]


def test_min_freq_and_max_size():
    assert Vocab.build(DATA, min_freq=2).itos[4:] == ["a", "b"]
    assert Vocab.build(DATA, min_freq=3).itos[4:] == ["a"]
    assert len(Vocab.build(DATA, min_freq=4)) == 4
    assert Vocab.build(DATA, max_size=1).itos[4:] == ["a"]
    with pytest.raises(ValueError):
        Vocab.build(DATA, min_freq=0)


def test_specials_in_the_data_are_not_doubled():
    vocab = Vocab.build([["<unk>", "a", "<pad>"]])
    assert vocab.itos == [*SPECIALS, "a"]


def test_encode_maps_unknown_tokens_to_unk():
    vocab = Vocab.build(DATA, min_freq=2)
    assert vocab.encode(["a", "c", "b", "zzz"]) == [4, UNK_ID, 5, UNK_ID]
    assert vocab.encode(["b"], add_sos_eos=True) == [SOS_ID, 5, EOS_ID]
    assert "a" in vocab and "c" not in vocab


def test_decode_stops_at_eos_and_skips_sos_and_pad():
    vocab = Vocab.build(DATA)
    ids = [SOS_ID, 4, PAD_ID, 5, EOS_ID, 6, 7]
    assert vocab.decode(ids) == ["a", "b"]
    assert vocab.decode(torch.tensor([4, 3, 6])) == ["a", "<unk>", "c"]
    assert vocab.decode(vocab.encode(["d", "a"], add_sos_eos=True)) == ["d", "a"]


def test_to_dict_from_dict_round_trip_through_a_checkpoint(tmp_path):
    vocab = Vocab.build(DATA, min_freq=2)
    path = tmp_path / "vocab.pt"
    torch.save({"vocab": vocab.to_dict()}, path)
    loaded = Vocab.from_dict(torch.load(path, weights_only=True)["vocab"])
    assert loaded == vocab and loaded.stoi == vocab.stoi
    assert loaded != Vocab.build(DATA)


def test_invalid_vocabularies_are_refused():
    with pytest.raises(ValueError):
        Vocab(["a", "b", "c", "d"])
    with pytest.raises(ValueError):
        Vocab([*SPECIALS, "a", "a"])
