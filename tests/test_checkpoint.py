"""Checkpoints: a round trip gives identical outputs; damaged, foreign and wrong-kind files
are refused with one clear line; saving is atomic."""

import pytest
import torch

from seq2code import checkpoint
from seq2code.batching import collate
from seq2code.checkpoint import (
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from seq2code.models import build_model
from seq2code.vocab import EOS_ID, SOS_ID, Vocab

SRC = Vocab(["<pad>", "<sos>", "<eos>", "<unk>", *"abcdefghijkl"])
TGT = Vocab(["<pad>", "<sos>", "<eos>", "<unk>", *"xyzw"])


def payload_for(model):
    return {"format": checkpoint.FORMAT, "kind": model.kind, "model_config": model.config,
            "state_dict": model.state_dict(), "src_vocab": SRC.to_dict(),
            "tgt_vocab": TGT.to_dict(), "train_config": {}, "history": {}, "epoch": 1,
            "profile": {"name": "ci"}}


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_model("attention", len(SRC), len(TGT), emb_dim=8, hidden_dim=12).eval()
    path = tmp_path / "best.pt"
    save_checkpoint(path, payload_for(model))
    return model, path


def test_round_trip_gives_identical_outputs(saved):
    model, path = saved
    payload = load_checkpoint(path, expected_kind="attention")
    assert payload["profile"] == {"name": "ci"}
    loaded, src_vocab, tgt_vocab = model_from_checkpoint(payload)
    assert src_vocab == SRC and tgt_vocab == TGT
    assert loaded.kind == "attention" and loaded.config == model.config
    batch = collate([([4, 5, 6], [SOS_ID, 4, EOS_ID]), ([7, 8], [SOS_ID, 5, 6, EOS_ID])],
                    [0, 1])
    a = model(batch.src, batch.src_lens, batch.tgt_in)
    b = loaded(batch.src, batch.src_lens, batch.tgt_in)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.attention, b.attention)


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message and message
    return message


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "nothing.pt")
    assert "no checkpoint" in one_line(info)


@pytest.mark.parametrize("keep", [0, 10, 1000, -200])
def test_truncated_file_is_refused(saved, tmp_path, keep):
    _, path = saved
    data = path.read_bytes()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(data[:keep])
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(broken)
    assert "truncated or corrupt" in one_line(info)


def test_not_a_seq2code_checkpoint(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "not a seq2code checkpoint" in one_line(info)


@pytest.mark.parametrize("content", [b"43\n", "a note: café\n".encode() * 100,
                                     b"\x00\x01\x02\xff binary"])
def test_a_file_that_torch_did_not_write_is_not_called_truncated(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = one_line(info)
    assert message.startswith(f"{path} is not a seq2code checkpoint: it is not a PyTorch file")
    assert "truncated" not in message and "corrupt" not in message
    assert ("but text" in message) == (b"\x00" not in content)


def test_pickled_code_is_not_run(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "kind": "rnn", "model_config": {}, "state_dict": {},
                "hook": object()}, path)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_wrong_kind_is_refused_naming_both(saved):
    _, path = saved
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, expected_kind="lstm")
    message = one_line(info)
    assert "holds a model of kind 'attention', not 'lstm'" in message


def test_crash_mid_save_leaves_the_previous_file_intact(saved, monkeypatch):
    model, path = saved
    before = path.read_bytes()
    real_save = torch.save

    def crashing_save(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.write(b"half")
        raise KeyboardInterrupt  # the process dies after writing part of the file

    monkeypatch.setattr(checkpoint.torch, "save", crashing_save)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, payload_for(model))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["best.pt"]  # no temp file left
    load_checkpoint(path)


def test_vocabulary_size_mismatch_is_refused(saved):
    _, path = saved
    payload = load_checkpoint(path)
    payload["tgt_vocab"] = SRC.to_dict()
    with pytest.raises(CheckpointError):
        model_from_checkpoint(payload)
