"""Greedy decoding: stops at <eos> and at max_len, batched rows independent, attention."""

import pytest
import torch

from seq2code.batching import collate
from seq2code.decoding import greedy_decode
from seq2code.models import build_model
from seq2code.vocab import EOS_ID, SOS_ID

SMALL = {"emb_dim": 8, "hidden_dim": 12}


@pytest.fixture(autouse=True)
def _seed():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def rig(model, token: int) -> None:
    """Make the decoder's output layer emit ``token`` whatever its input."""
    with torch.no_grad():
        model.decoder.out.weight.zero_()
        model.decoder.out.bias.zero_()
        model.decoder.out.bias[token] = 10.0


def batch(lengths):
    return collate([(list(range(4, 4 + n)), [SOS_ID, EOS_ID]) for n in lengths],
                   range(len(lengths)))


@pytest.mark.parametrize("kind", ["rnn", "lstm", "attention"])
def test_stops_at_eos(kind):
    model = build_model(kind, 20, 10, **SMALL)
    rig(model, EOS_ID)
    b = batch([3, 5])
    result = greedy_decode(model, b.src, b.src_lens, max_len=50)
    assert result.tokens == [[], []]


@pytest.mark.parametrize("kind", ["rnn", "attention"])
def test_stops_at_max_len(kind):
    model = build_model(kind, 20, 10, **SMALL)
    rig(model, 7)
    b = batch([3, 5])
    result = greedy_decode(model, b.src, b.src_lens, max_len=6)
    assert result.tokens == [[7] * 6, [7] * 6]
    if kind == "attention":
        assert [a.shape for a in result.attention] == [(6, 3), (6, 5)]
        for a in result.attention:
            torch.testing.assert_close(a.sum(-1), torch.ones(6))
    else:
        assert result.attention is None


def test_eos_midway_cuts_each_row_and_the_loop_ends_early():
    model = build_model("rnn", 20, 10, **SMALL)
    calls = []
    real_forward = model.decoder.forward

    def scripted(prev, state, enc):
        """Row 0 says 5 <eos>; row 1 says 6 6 6 <eos>."""
        step = real_forward(prev, state, enc)
        t = len(calls)
        calls.append(t)
        logits = torch.full_like(step.logits, -1.0)
        logits[0, 5 if t == 0 else EOS_ID] = 1.0
        logits[1, 6 if t < 3 else EOS_ID] = 1.0
        return step._replace(logits=logits)

    model.decoder.forward = scripted
    b = batch([2, 4])
    result = greedy_decode(model, b.src, b.src_lens, max_len=30)
    assert result.tokens == [[5], [6, 6, 6]]
    assert len(calls) == 4  # stops when every row is finished


def test_matches_teacher_forced_argmax_and_restores_training_mode():
    model = build_model("lstm", 20, 10, **SMALL)
    model.train()
    b = batch([3, 6, 2])
    result = greedy_decode(model, b.src, b.src_lens, max_len=5)
    assert model.training
    # feeding the greedy output back as gold gives the same argmax at every step
    for row, tokens in enumerate(result.tokens):
        one = collate([(b.src[row, : b.src_lens[row]].tolist(), [SOS_ID, *tokens])], [0])
        logits = model.eval()(one.src, one.src_lens, one.tgt).logits
        assert logits.argmax(-1)[0, : len(tokens)].tolist() == tokens


def test_inputs_follow_the_model_to_its_device():
    """Batches are built on the CPU; a model on another device (CUDA on Colab) gets its
    inputs moved there (the meta device stands in for CUDA here)."""
    from seq2code.models.base import on_model_device

    src, lens = torch.zeros(2, 3, dtype=torch.long), torch.tensor([3, 2])
    moved = on_model_device(torch.nn.Linear(1, 1).to("meta"), src, lens)
    assert [t.device.type for t in moved] == ["meta", "meta"]
    assert on_model_device(torch.nn.Module(), src, lens) == (src, lens)
