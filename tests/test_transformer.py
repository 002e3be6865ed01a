"""The Transformer encoder-decoder (chapter 8): positions, the causal mask, the cache that
steps one token at a time, padding, and training through the shared interface."""

import math

import pytest
import torch
from toy import batch_of, fit

from seq2code.batching import collate
from seq2code.decoding import greedy_decode
from seq2code.models import build_model
from seq2code.models.base import count_parameters
from seq2code.models.transformer import (
    causal_mask,
    sinusoidal_positions,
    transformer_parameters,
)
from seq2code.training import sequence_loss
from seq2code.vocab import EOS_ID


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def build(src=20, tgt=30, emb=16, hidden=32, **options):
    return build_model("transformer", src, tgt, emb, hidden, **options)


def test_sinusoidal_positions_follow_the_formula():
    pe = sinusoidal_positions(50, 8)
    assert pe.shape == (50, 8)
    p, i = 7, 2
    assert math.isclose(pe[p, 2 * i].item(), math.sin(p / 10000 ** (2 * i / 8)), abs_tol=1e-6)
    assert math.isclose(pe[p, 2 * i + 1].item(), math.cos(p / 10000 ** (2 * i / 8)),
                        abs_tol=1e-6)
    torch.testing.assert_close(sinusoidal_positions(5, 8, start=3), pe[3:8])


def test_causal_mask_hides_the_future_and_shows_the_cache():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False],
                                       [True, True, True]]
    assert causal_mask(1, 4).tolist() == [[True] * 4]  # one new step sees every cached one


def test_shapes_and_parameter_formula():
    torch.manual_seed(0)
    model = build().eval()
    batch, _ = batch_of([5, 3, 7])
    enc = model.encode(batch.src, batch.src_lens)
    assert enc.outputs.shape == (3, 7, 16) and (enc.outputs[1, 3:] == 0).all()
    out = model(batch.src, batch.src_lens, batch.tgt_in)
    assert out.logits.shape == (3, 7, 30) and out.attention.shape == (3, 7, 7)
    assert (out.attention[1, :, 3:] == 0).all()
    for sizes in [(20, 30, 16, 32), (3176, 2778, 128, 256)]:
        assert count_parameters(build(*sizes)) == transformer_parameters(*sizes)
    assert count_parameters(build(layers=1)) == transformer_parameters(20, 30, 16, 32, 1)


def test_a_later_token_never_changes_earlier_logits():
    torch.manual_seed(0)
    model = build().eval()
    batch, _ = batch_of([5, 6])
    logits = model(batch.src, batch.src_lens, batch.tgt_in).logits
    changed = batch.tgt_in.clone()
    changed[:, 4] = 9 if changed[0, 4] != 9 else 10
    other = model(batch.src, batch.src_lens, changed).logits
    torch.testing.assert_close(other[:, :4], logits[:, :4])
    assert not torch.allclose(other[:, 4:], logits[:, 4:])


def test_one_step_at_a_time_equals_the_whole_sequence():
    torch.manual_seed(0)
    model = build().eval()
    batch, _ = batch_of([5, 2, 8])
    enc = model.encode(batch.src, batch.src_lens)
    whole = model.decoder.forward_sequence(batch.tgt_in, model.decoder.init_state(enc), enc)
    state, steps, weights = model.decoder.init_state(enc), [], []
    for t in range(batch.tgt_in.size(1)):
        step = model.decoder(batch.tgt_in[:, t], state, enc)
        state = step.state
        steps.append(step.logits)
        weights.append(step.attention)
    torch.testing.assert_close(torch.stack(steps, 1), whole.logits)
    torch.testing.assert_close(torch.stack(weights, 1), whole.attention)
    assert state.inputs[0].shape == (3, batch.tgt_in.size(1), 16)
    assert state.memory[0][0].shape == (3, 4, 8, 4)  # [B, h, S, d_k]
    # a run that starts after a cached prefix continues it exactly
    head = model.decoder.forward_sequence(batch.tgt_in[:, :3], model.decoder.init_state(enc),
                                          enc)
    tail = model.decoder.forward_sequence(batch.tgt_in[:, 3:], head.state, enc)
    torch.testing.assert_close(torch.cat([head.logits, tail.logits], 1), whole.logits)


def test_padding_never_changes_the_loss():
    torch.manual_seed(0)
    model = build().eval()
    _, pairs = batch_of([4, 9])
    short = collate([pairs[0]], [0])
    long_pair = (pairs[1][0], pairs[1][1][:-1] + [5, 6, 7, EOS_ID])
    both = collate([pairs[0], long_pair], [0, 1])
    alone = sequence_loss(model(short.src, short.src_lens, short.tgt_in).logits, short.tgt_out)
    padded = sequence_loss(model(both.src, both.src_lens, both.tgt_in).logits[:1],
                           both.tgt_out[:1])
    torch.testing.assert_close(padded, alone)


def test_unknown_option_is_named():
    with pytest.raises(TypeError, match="precompute_keys"):
        build(precompute_keys=False)


def test_overfits_and_greedy_decoding_reproduces_the_targets():
    torch.manual_seed(0)
    batch, pairs = batch_of([3, 5, 4, 6, 2, 5, 3, 4], vocab=16, tgt_len=4)
    model = build(16, 16, 32, 64, layers=2, dropout=0.0)
    fit(model, batch, lr=3e-3, steps=300)
    result = greedy_decode(model, batch.src, batch.src_lens, max_len=8)
    assert result.tokens == [tgt[1:-1] for _, tgt in pairs]


def test_beam_search_of_one_beam_is_greedy_decoding():
    """The cache is a nested state that beam search reorders along the batch axis."""
    from seq2code.beam import beam_search

    torch.manual_seed(0)
    model = build().eval()
    batch, _ = batch_of([5, 2, 8])
    greedy = greedy_decode(model, batch.src, batch.src_lens, max_len=8).tokens
    assert beam_search(model, batch.src, batch.src_lens, 1, 8).tokens == greedy
    assert len(beam_search(model, batch.src, batch.src_lens, 3, 8).tokens) == 3


def test_train_model_trains_the_transformer_with_teacher_forcing_one(tmp_path, monkeypatch,
                                                                     shared_data):
    """The kind's training defaults (``ModelKind.train_defaults``): ``train_model`` (and so ``train --model transformer``) trains
    the Transformer as chapter 8 does; an explicit option still wins."""
    from dataclasses import replace

    from seq2code import experiment
    from seq2code.profiles import get_profile

    monkeypatch.setenv("SEQ2CODE_CACHE", str(tmp_path / "cache"))
    tiny = replace(get_profile("ci"), name="tiny", train_size=64, dev_size=16, test_size=16,
                   epochs=1, batch_size=32, min_freq=1, max_src_len=20, max_tgt_len=20)
    data = experiment.prepare_data(tiny, data_dir=shared_data)
    small = {"emb_dim": 16, "hidden_dim": 32, "layers": 1}
    default = experiment.train_model("transformer", data=data, progress=False, **small)
    assert default.config["train_config"]["teacher_forcing"] == 1.0
    again = experiment.train_model("transformer", data=data, progress=False,
                                   train_options={"teacher_forcing": 1.0}, **small)
    assert again.from_cache and again.checkpoint_path == default.checkpoint_path
    other = experiment.train_model("transformer", data=data, progress=False,
                                   train_options={"teacher_forcing": 0.5}, **small)
    assert other.config["train_config"]["teacher_forcing"] == 0.5
    assert other.checkpoint_path != default.checkpoint_path
