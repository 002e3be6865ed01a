"""Models: shapes, parameter counts, padding, teacher forcing, the unrolled encoder,
overfitting a small set, and the gradient along the input."""

import random

import pytest
import torch
from toy import batch_of, fit

from seq2code.analysis import encoder_state_gradients, token_accuracy
from seq2code.batching import collate, make_batches
from seq2code.decoding import greedy_decode
from seq2code.models import KINDS, build_model, count_parameters, expected_parameters
from seq2code.models.copy import CopySeq2Seq
from seq2code.training import sequence_loss
from seq2code.vocab import EOS_ID, PAD_ID, SOS_ID

SMALL = {"emb_dim": 16, "hidden_dim": 24}


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.mark.parametrize("kind", KINDS)
def test_shapes(kind):
    torch.manual_seed(0)
    model = build_model(kind, 20, 30, **SMALL)
    batch, _ = batch_of([5, 3, 7])
    enc = model.encode(batch.src, batch.src_lens)
    width_enc = 16 if kind == "transformer" else 24  # the Transformer's width is emb_dim
    assert enc.outputs.shape == (3, 7, width_enc)
    assert enc.mask.tolist()[1] == [True] * 3 + [False] * 4
    assert (enc.outputs[1, 3:] == 0).all()
    out = model(batch.src, batch.src_lens, batch.tgt_in)
    width = 30 + 7 * isinstance(model, CopySeq2Seq)  # copy kinds: extended vocabulary V + S
    assert out.logits.shape == (3, 7, width)
    if kind in ("attention", "bidirectional", "copy", "coverage", "multihead", "transformer"):
        assert out.attention.shape == (3, 7, 7)
    else:
        assert out.attention is None
    step = model.decoder(batch.tgt_in[:, 0], model.decoder.init_state(enc), enc)
    assert step.logits.shape == (3, width)


@pytest.mark.parametrize("kind,expected", [("rnn", 228_412), ("lstm", 821_308),
                                           ("attention", 1_230_140)])
def test_parameter_counts_match_the_course_table(kind, expected):
    model = build_model(kind, 60, 60)
    assert count_parameters(model) == expected
    assert count_parameters(model) == expected_parameters(kind, 60, 60, 128, 256)
    course = {"rnn": 227_500, "lstm": 820_000, "attention": 1_200_000}[kind]
    assert abs(count_parameters(model) - course) / course < 0.03


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sizes", [(3176, 2778, 128, 256), (11, 7, 5, 9)])
def test_formula_equals_count(kind, sizes):
    src, tgt, emb, hidden = sizes
    model = build_model(kind, src, tgt, emb_dim=emb, hidden_dim=hidden)
    assert count_parameters(model) == expected_parameters(kind, src, tgt, emb, hidden)


def test_build_model_config_rebuilds_and_unknown_kind_is_named():
    model = build_model("attention", 20, 30, dropout=0.1, **SMALL)
    again = build_model(**model.config)
    assert again.kind == "attention" and again.config == model.config
    with pytest.raises(ValueError, match="rnn, lstm, attention"):
        build_model("gpt9", 20, 30)
    with pytest.raises(TypeError, match="precompute_keys"):
        build_model("rnn", 20, 30, precompute_keys=False)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_never_changes_the_loss(kind):
    torch.manual_seed(0)
    model = build_model(kind, 20, 30, **SMALL).eval()
    batch, pairs = batch_of([4, 9])  # the first row gets 5 source pads
    short = collate([pairs[0]], [0])
    # a longer target in the batch pads the short one's target too
    long_pair = (pairs[1][0], pairs[1][1][:-1] + [5, 6, 7, EOS_ID])
    both = collate([pairs[0], long_pair], [0, 1])
    assert both.src.size(1) > short.src.size(1) and both.tgt.size(1) > short.tgt.size(1)
    alone = sequence_loss(model(short.src, short.src_lens, short.tgt_in).logits, short.tgt_out)
    logits = model(both.src, both.src_lens, both.tgt_in).logits[:1]  # row 0 only
    padded = sequence_loss(logits, both.tgt_out[:1])
    torch.testing.assert_close(padded, alone)


@pytest.mark.parametrize("kind", KINDS)
def test_unrolled_encoder_is_the_same_function(kind):
    if kind == "transformer":
        pytest.skip("the Transformer's encoder has no recurrence to unroll")
    torch.manual_seed(0)
    model = build_model(kind, 20, 30, **SMALL)
    batch, _ = batch_of([5, 2, 8])
    packed = model.encode(batch.src, batch.src_lens)
    unrolled, states = model.encoder.forward_unrolled(batch.src, batch.src_lens)
    assert len(states) == 8 and states[0].shape == (3, 24)
    torch.testing.assert_close(unrolled.outputs, packed.outputs)
    torch.testing.assert_close(unrolled.state, packed.state)


def test_teacher_forcing_one_equals_a_manual_gold_loop_and_draws_no_coin():
    torch.manual_seed(0)
    model = build_model("lstm", 20, 30, **SMALL).eval()
    batch, _ = batch_of([5, 2, 8])
    generator = torch.Generator().manual_seed(3)
    before = generator.get_state()
    logits = model(batch.src, batch.src_lens, batch.tgt_in, 1.0, generator=generator).logits
    assert torch.equal(generator.get_state(), before)
    enc = model.encode(batch.src, batch.src_lens)
    state, manual = model.decoder.init_state(enc), []
    for t in range(batch.tgt_in.size(1)):
        step = model.decoder(batch.tgt_in[:, t], state, enc)
        state = step.state
        manual.append(step.logits)
    torch.testing.assert_close(logits, torch.stack(manual, dim=1))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["step", "sequence"])
def test_teacher_forcing_zero_is_free_running_and_coins_are_reproducible(kind, mode):
    torch.manual_seed(0)
    model = build_model(kind, 20, 30, **SMALL).eval()
    batch, _ = batch_of([5, 2, 8])
    free = model(batch.src, batch.src_lens, batch.tgt_in, 0.0, mode).logits
    # free running reads only <sos>: any other gold input gives the same logits
    scrambled = batch.tgt_in.clone()
    scrambled[:, 1:] = 4
    torch.testing.assert_close(model(batch.src, batch.src_lens, scrambled, 0.0, mode).logits,
                               free)
    gold = model(batch.src, batch.src_lens, batch.tgt_in, 1.0, mode).logits
    # with 0.5 the same generator seed gives the same output
    runs = {seed: model(batch.src, batch.src_lens, batch.tgt_in, 0.5, mode,
                        torch.Generator().manual_seed(seed)).logits for seed in range(6)}
    again = model(batch.src, batch.src_lens, batch.tgt_in, 0.5, mode,
                  torch.Generator().manual_seed(1)).logits
    torch.testing.assert_close(again, runs[1])
    # ... and the coins matter: other draws give other logits, and some draw is neither the
    # teacher-forced nor the free-running output
    same = lambda a, b: torch.allclose(a, b, rtol=1e-4, atol=1e-5)  # noqa: E731
    assert any(not same(runs[seed], runs[0]) for seed in runs)
    assert any(not same(run, gold) and not same(run, free) for run in runs.values())
    # where the output follows the teacher-forced or the free run is what the coins say; the
    # model draws them as ``torch.rand(size, generator) < 0.5`` from a fresh generator
    rows, steps = batch.tgt_in.shape
    for seed, run in runs.items():
        coins = torch.rand(steps if mode == "step" else rows,
                           generator=torch.Generator().manual_seed(seed)) < 0.5
        if mode == "sequence":  # one coin per row, for its whole sequence
            torch.testing.assert_close(run[coins], gold[coins])
            torch.testing.assert_close(run[~coins], free[~coins])
            continue
        # one coin per step (step 0 always reads <sos>): up to the first step of the other
        # kind, the run is the teacher-forced (free) run
        forced = coins[1:].tolist()
        first_free = 1 + forced.index(False) if False in forced else steps
        first_forced = 1 + forced.index(True) if True in forced else steps
        torch.testing.assert_close(run[:, :first_free], gold[:, :first_free])
        torch.testing.assert_close(run[:, :first_forced], free[:, :first_forced])
        if first_free < steps:
            # the first free step reads the model's own guess: rows whose guess is not the
            # gold token leave the teacher-forced run there, the others do not
            t = first_free
            guessed_other = gold[:, t - 1].argmax(-1) != batch.tgt_in[:, t]  # [B]
            assert guessed_other.any()
            for row in range(rows):
                assert same(run[row, t], gold[row, t]) != bool(guessed_other[row])


def test_sequence_mode_mixes_rows():
    torch.manual_seed(0)
    model = build_model("rnn", 20, 30, **SMALL).eval()
    batch, _ = batch_of([5, 5, 5, 5, 5, 5, 5, 5])
    generator = torch.Generator().manual_seed(0)
    coins = torch.rand(8, generator=torch.Generator().manual_seed(0)) < 0.5
    assert coins.any() and not coins.all()  # this seed mixes the rows
    mixed = model(batch.src, batch.src_lens, batch.tgt_in, 0.5, "sequence", generator).logits
    gold = model(batch.src, batch.src_lens, batch.tgt_in, 1.0).logits
    free = model(batch.src, batch.src_lens, batch.tgt_in, 0.0).logits
    torch.testing.assert_close(mixed[coins], gold[coins])
    torch.testing.assert_close(mixed[~coins], free[~coins])


@pytest.mark.parametrize("kind", KINDS)
def test_overfits_32_pairs_to_full_exact_match(kind):
    """A model memorises 32 random pairs: greedy decoding reproduces every target."""
    torch.manual_seed(0)
    rng = random.Random(0)
    pairs = []
    for _ in range(32):
        src = [rng.randrange(4, 16) for _ in range(rng.randint(3, 7))]
        pairs.append((src, [SOS_ID, *[rng.randrange(4, 16) for _ in range(rng.randint(2, 6))],
                            EOS_ID]))
    model = build_model(kind, 16, 16, emb_dim=32, hidden_dim=64)
    lr = 3e-3 if kind == "transformer" else 1e-2  # attention layers overshoot at 1e-2
    batch = collate(pairs, range(32))
    fit(model, batch, lr, steps=300)
    result = greedy_decode(model, batch.src, batch.src_lens, max_len=10)
    assert result.tokens == [tgt[1:-1] for _, tgt in pairs]


@pytest.mark.parametrize("kind", KINDS)
def test_encoder_state_gradients(kind):
    if kind == "transformer":
        pytest.skip("the Transformer's encoder has no recurrence to unroll")
    torch.manual_seed(0)
    model = build_model(kind, 20, 30, **SMALL)
    batch, _ = batch_of([3, 6, 6, 2])
    grads = encoder_state_gradients(model, batch)
    assert grads.shape == (6,)
    assert torch.isfinite(grads).all() and (grads > 0).all()
    assert all(p.grad is None for p in model.parameters())  # parameters untouched
    # position 4 is real only in rows 1 and 2: their mean, not diluted by padded rows
    rows = encoder_state_gradients(model, collate([batch_of([3, 6, 6, 2])[1][i] for i in (1, 2)],
                                                  [0, 1]))
    torch.testing.assert_close(grads[3:], rows[3:])


def test_vanilla_rnn_gradient_fades_along_the_input():
    torch.manual_seed(0)
    model = build_model("rnn", 20, 30, **SMALL)
    batch = make_batches([p for p in batch_of([12] * 8)[1]], 8)[0]
    grads = encoder_state_gradients(model, batch)
    assert grads[0] < grads[-1] / 10  # the first word barely reaches the loss
    assert PAD_ID not in batch.src.tolist()[0]


def test_token_accuracy_with_the_reference_and_with_its_own_guesses():
    torch.manual_seed(0)
    batch, pairs = batch_of([3, 5, 4, 6, 2, 5, 3, 4], vocab=16, tgt_len=4)
    model = build_model("lstm", 16, 16, emb_dim=32, hidden_dim=64)
    with torch.no_grad():  # untrained: the teacher-forced share, counted by hand
        guesses = model.eval()(batch.src, batch.src_lens, batch.tgt_in).logits.argmax(-1)
    by_hand = (guesses == batch.tgt_out).float().mean().item()  # no padding: tgt_len fixed
    assert token_accuracy(model, pairs, 1.0) == pytest.approx(by_hand)
    model.train()
    fit(model, batch, lr=1e-2, steps=300)
    assert token_accuracy(model, pairs, 1.0) == 1.0
    assert model.training  # the mode is restored
    assert token_accuracy(model, pairs, 0.0) == 1.0  # memorised: its guesses are the reference
    with pytest.raises(ValueError, match="teacher_forcing"):
        token_accuracy(model, pairs, 0.5)
