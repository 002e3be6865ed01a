"""Training: history, checkpoints, determinism, and resume equivalence."""

import random

import pytest
import torch

from seq2code.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from seq2code.models import build_model
from seq2code.training import History, TrainConfig, train
from seq2code.vocab import EOS_ID, SOS_ID, Vocab

VOCAB = Vocab(["<pad>", "<sos>", "<eos>", "<unk>", *[f"t{i}" for i in range(12)]])
EXTRA = {"src_vocab": VOCAB.to_dict(), "tgt_vocab": VOCAB.to_dict(), "profile": {"name": "x"}}
# dropout and teacher forcing 0.5 make both random sources matter
MODEL = {"emb_dim": 8, "hidden_dim": 16, "dropout": 0.2}
CONFIG = TrainConfig(epochs=3, batch_size=8, lr=1e-2, seed=3, max_decode_len=8,
                     plateau_patience=0, plateau_factor=0.5)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def make_pairs(n, seed):
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        src = [rng.randrange(4, 16) for _ in range(rng.randint(2, 6))]
        pairs.append((src, [SOS_ID, *reversed(src), EOS_ID]))
    return pairs


TRAIN, DEV = make_pairs(48, 0), make_pairs(12, 1)


def run(kind="lstm", config=CONFIG, **kwargs):
    torch.manual_seed(0)
    model = build_model(kind, len(VOCAB), len(VOCAB), **MODEL)
    history = train(model, TRAIN, DEV, config, device="cpu", progress=False,
                    checkpoint_extra=EXTRA, **kwargs)
    return model, history


def comparable(history: History) -> dict:
    """Everything but the timings and the machine's load when training started."""
    d = history.to_dict()
    del d["epoch_seconds"], d["train_tokens_per_second"], d["load_1m"]
    return d


def test_history_and_checkpoints(tmp_path):
    model, history = run(checkpoint_dir=tmp_path)
    assert len(history.train_loss) == len(history.dev_loss) == len(history.lr) == 3
    assert len(history.batch_loss) == 3 * 6  # 48 pairs in batches of 8
    assert history.train_loss[-1] < history.train_loss[0]
    assert all(0.0 <= x <= 1.0 for x in history.dev_exact_match)
    assert all(s > 0 for s in history.epoch_seconds + history.train_tokens_per_second)
    assert History.from_dict(history.to_dict()) == history
    assert history.lr[0] == CONFIG.lr

    best = load_checkpoint(tmp_path / "best.pt", expected_kind="lstm")
    last = load_checkpoint(tmp_path / "last.pt")
    assert last["epoch"] == 3 and best["epoch"] == history.best_epoch + 1
    assert best["profile"] == {"name": "x"} and best["train_config"] == CONFIG.to_dict()
    for key in ("optimizer", "scheduler", "rng"):
        assert key in last
    # on return, the model holds the best weights
    loaded, src_vocab, _ = model_from_checkpoint(best)
    assert src_vocab == VOCAB
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # best is the highest exact match, ties to the lower dev loss
    em = history.dev_exact_match
    candidates = [i for i, x in enumerate(em) if x == max(em)]
    assert history.best_epoch == min(candidates, key=lambda i: history.dev_loss[i])


def test_same_seed_same_history():
    _, first = run()
    model, second = run()
    assert comparable(first) == comparable(second)
    _, other = run(config=TrainConfig(**{**CONFIG.to_dict(), "seed": 4}))
    assert comparable(other) != comparable(first)


@pytest.mark.parametrize("kind,tf_mode,lr,average", [("lstm", "step", 1e-2, None),
                                                     ("attention", "sequence", 1e-2, None),
                                                     ("rnn", "step", 5e-2, None),
                                                     ("copy", "step", 1e-2, 0.9)])
def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path, kind, tf_mode, lr,
                                                              average):
    config = TrainConfig(**{**CONFIG.to_dict(), "tf_mode": tf_mode, "lr": lr,
                            "average_decay": average})
    straight_model, straight = run(kind, config, checkpoint_dir=tmp_path / "straight")
    if kind == "rnn":  # this run's dev loss rises after epoch 1: the plateau halves the rate
        assert straight.lr == [lr, lr, lr / 2]

    one_epoch = TrainConfig(**{**config.to_dict(), "epochs": 1})
    run(kind, one_epoch, checkpoint_dir=tmp_path / "resumed")  # "interrupted" after epoch 1
    # a fresh process would build a fresh model and seed again: model weights differ
    torch.manual_seed(123)
    model = build_model(kind, len(VOCAB), len(VOCAB), **MODEL)
    resumed = train(model, TRAIN, DEV, config, device="cpu", progress=False,
                    checkpoint_dir=tmp_path / "resumed", checkpoint_extra=EXTRA, resume=True)
    assert comparable(resumed) == comparable(straight)
    for a, b in zip(model.state_dict().values(), straight_model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    last = [load_checkpoint(tmp_path / name / "last.pt") for name in ("straight", "resumed")]
    for a, b in zip(last[0]["state_dict"].values(), last[1]["state_dict"].values(), strict=True):
        assert torch.equal(a, b)


def test_resume_refuses_another_configuration(tmp_path):
    run(checkpoint_dir=tmp_path, config=TrainConfig(**{**CONFIG.to_dict(), "epochs": 1}))
    with pytest.raises(CheckpointError, match="another configuration"):
        run(checkpoint_dir=tmp_path, resume=True,
            config=TrainConfig(**{**CONFIG.to_dict(), "lr": 0.5}))


def test_config_round_trip_and_checks():
    assert TrainConfig.from_dict(CONFIG.to_dict()) == CONFIG
    defaults = TrainConfig()
    assert (defaults.lr, defaults.teacher_forcing, defaults.clip, defaults.tf_mode) == (
        1e-3, 0.5, 1.0, "step")
    with pytest.raises(ValueError, match="tf_mode"):
        TrainConfig(tf_mode="token")
    with pytest.raises(ValueError, match="teacher_forcing"):
        TrainConfig(teacher_forcing=1.5)


def test_early_stop_ends_a_run_whose_dev_exact_match_stalls(tmp_path):
    # lr 0: the weights never change, so no epoch after the first improves on it.
    stalled = TrainConfig(**{**CONFIG.to_dict(), "lr": 0.0, "epochs": 10, "early_stop": 2})
    _, history = run(config=stalled, checkpoint_dir=tmp_path)
    assert history.best_epoch == 0 and len(history.dev_exact_match) == 3  # best + 2 stalled
    # best.pt holds the first epoch's weights and the whole run's history
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == 1 and best["history"] == history.to_dict()
    # resuming a run that stopped early trains nothing more
    _, again = run(config=stalled, checkpoint_dir=tmp_path, resume=True)
    assert comparable(again) == comparable(history)


def test_without_early_stop_every_epoch_runs():
    _, history = run(config=TrainConfig(**{**CONFIG.to_dict(), "lr": 0.0, "epochs": 4}))
    assert len(history.dev_exact_match) == 4


def test_a_checkpoint_older_than_early_stop_resumes(tmp_path):
    run(checkpoint_dir=tmp_path, config=TrainConfig(**{**CONFIG.to_dict(), "epochs": 1}))
    last = load_checkpoint(tmp_path / "last.pt")
    del last["train_config"]["early_stop"]  # as written before the field existed
    torch.save(last, tmp_path / "last.pt")
    _, history = run(checkpoint_dir=tmp_path, resume=True, config=CONFIG)
    assert len(history.dev_exact_match) == CONFIG.epochs


def test_early_stop_must_be_positive():
    with pytest.raises(ValueError, match="early_stop"):
        TrainConfig(early_stop=0)


def test_the_weight_average_is_a_shadow_that_is_evaluated_and_saved(tmp_path):
    """With ``average_decay`` the run's path is the plain run's (same losses, same rates, same
    weights' dev metrics) and the average is what is selected, saved and returned."""
    plain_model, plain = run("attention")
    config = TrainConfig(**{**CONFIG.to_dict(), "average_decay": 0.9})
    model, averaged = run("attention", config, checkpoint_dir=tmp_path)
    assert averaged.train_loss == plain.train_loss and averaged.lr == plain.lr
    assert averaged.dev_loss_raw == plain.dev_loss
    assert averaged.dev_exact_match_raw == plain.dev_exact_match
    assert averaged.dev_loss != plain.dev_loss  # the average's own dev loss
    assert plain.dev_loss_raw == [] and "average_decay" not in CONFIG.to_dict()
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["train_config"]["average_decay"] == 0.9
    loaded, _, _ = model_from_checkpoint(best)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # the returned weights are the average's, not the last or best raw weights
    assert any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                     plain_model.state_dict().values(),
                                                     strict=True))


def test_average_decay_must_lie_between_0_and_1():
    for bad in (0.0, 1.0, -0.5, 2.0):
        with pytest.raises(ValueError, match="average_decay"):
            TrainConfig(average_decay=bad)


@pytest.mark.parametrize("teacher_forcing", [1.0, 0.5])
@pytest.mark.parametrize("kind", ["lstm", "attention", "copy", "transformer"])
def test_label_smoothing_is_pytorchs_on_the_output_vocabulary(kind, teacher_forcing):
    """``loss(label_smoothing=eps)`` is ``(1 - eps)`` of the gold word's ``-log p`` plus
    ``eps`` of the mean ``-log p(w)`` over the ``V`` output words, over the real tokens only;
    for the models whose output is over ``V`` that is PyTorch's own label smoothing. With
    teacher forcing 0.5 some steps feed back their prediction (the loss reuses their scores):
    the same value there."""
    torch.manual_seed(0)
    model = build_model(kind, len(VOCAB), len(VOCAB), emb_dim=8, hidden_dim=16).eval()
    src = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0]])
    lens = torch.tensor([4, 2])
    tgt_out = torch.tensor([[7, 6, 5, 4, 9, 8, 7, EOS_ID], [9, 8, EOS_ID, 0, 0, 0, 0, 0]])
    tgt_in = torch.cat([torch.full((2, 1), SOS_ID), tgt_out[:, :-1]], dim=1)

    def coins():
        return torch.Generator().manual_seed(3)  # heads and tails among the 8 steps

    smoothed = model.loss(src, lens, tgt_in, tgt_out, teacher_forcing, generator=coins(),
                          label_smoothing=0.1)
    plain = model.loss(src, lens, tgt_in, tgt_out, teacher_forcing, generator=coins())
    scores = model(src, lens, tgt_in, teacher_forcing,
                   generator=coins()).logits  # [B, T, V] logits, or the copy model's log P
    if teacher_forcing < 1 and kind != "transformer":  # the coins fed some predictions back
        assert model.run(src, lens, tgt_in, teacher_forcing, generator=coins()).decided
    if kind == "copy":
        real = tgt_out != 0
        gold = scores.gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)[real]  # log P(y_t)
        spread = scores[..., :len(VOCAB)][real].mean(-1)  # (1/V) sum_w log P(w)
        expected = -(0.9 * gold + 0.1 * spread).mean()
    else:
        expected = torch.nn.functional.cross_entropy(
            scores.flatten(0, 1), tgt_out.flatten(), ignore_index=0, label_smoothing=0.1)
    torch.testing.assert_close(smoothed, expected, rtol=1e-5, atol=1e-6)
    assert not torch.isclose(smoothed, plain)  # the smoothing changes the loss


def test_label_smoothing_trains_and_is_recorded(tmp_path):
    """The dev loss stays the plain cross-entropy; the checkpoint records the smoothing;
    without it the configuration reads as before the field existed."""
    config = TrainConfig(**{**CONFIG.to_dict(), "label_smoothing": 0.1})
    _, smoothed = run("attention", config, checkpoint_dir=tmp_path)
    _, plain = run("attention")
    assert smoothed.train_loss != plain.train_loss
    assert smoothed.train_loss[-1] < smoothed.train_loss[0]
    assert load_checkpoint(tmp_path / "best.pt")["train_config"]["label_smoothing"] == 0.1
    assert "label_smoothing" not in CONFIG.to_dict()
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="label_smoothing"):
            TrainConfig(label_smoothing=bad)


def test_a_time_budget_stops_before_an_epoch_that_would_overrun(tmp_path):
    """``max_minutes``: after each epoch, no new epoch starts that would, at the last
    epoch's pace, end past the budget; the budget may change on resume."""
    _, first = run(config=TrainConfig(**{**CONFIG.to_dict(), "epochs": 1}))
    pace = first.epoch_seconds[0] / 60  # minutes per epoch on this machine, now
    budget = TrainConfig(**{**CONFIG.to_dict(), "epochs": 10, "max_minutes": 1e-6})
    _, history = run(config=budget, checkpoint_dir=tmp_path)
    assert len(history.dev_exact_match) == 1  # one epoch always runs; the next would overrun
    assert load_checkpoint(tmp_path / "last.pt")["train_config"]["max_minutes"] == 1e-6
    roomy = TrainConfig(**{**CONFIG.to_dict(), "epochs": 2, "max_minutes": 1000 * pace})
    _, resumed = run(config=roomy, checkpoint_dir=tmp_path, resume=True)
    assert len(resumed.dev_exact_match) == 2
    assert "max_minutes" not in CONFIG.to_dict()
    with pytest.raises(ValueError, match="max_minutes"):
        TrainConfig(max_minutes=0)
