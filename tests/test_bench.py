"""The tutorial-style reference and the speed benchmark (``python -m seq2code bench``)."""

import json
import random

import pytest
import torch

from seq2code import bench, reference
from seq2code.batching import make_batches
from seq2code.cli import main
from seq2code.decoding import greedy_decode
from seq2code.models import build_model, count_parameters
from seq2code.vocab import EOS_ID, PAD_ID, SOS_ID

V_SRC, V_TGT = 23, 19


def library_and_reference(seed=0):
    torch.manual_seed(seed)
    library = build_model("attention", V_SRC, V_TGT, emb_dim=8, hidden_dim=12).eval()
    tutorial = reference.TutorialSeq2Seq(V_SRC, V_TGT, emb_dim=8, hidden_dim=12)
    return library, reference.copy_library_weights(tutorial, library).eval()


def toy_pairs(n=40, seed=0):
    """Random pairs of varied lengths: (source ids, <sos> target ids <eos>)."""
    rng = random.Random(seed)
    return [([rng.randrange(4, V_SRC) for _ in range(rng.randint(1, 9))],
             [SOS_ID] + [rng.randrange(4, V_TGT) for _ in range(rng.randint(1, 7))] + [EOS_ID])
            for _ in range(n)]


def test_the_reference_has_the_library_models_parameters():
    library, tutorial = library_and_reference()
    assert count_parameters(tutorial) == count_parameters(library)


@pytest.mark.parametrize("teacher_forcing", [1.0, 0.0])
def test_the_reference_computes_the_library_models_scores_without_padding(teacher_forcing):
    library, tutorial = library_and_reference()
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, V_SRC, (3, 6), generator=g)  # [B, S], no padding
    tgt = torch.randint(4, V_TGT, (3, 5), generator=g)  # [B, T]
    tgt[:, 0] = SOS_ID
    with torch.no_grad():
        ours = library(src, torch.full((3,), 6), tgt[:, :-1], teacher_forcing=teacher_forcing)
        theirs = tutorial(src.T, tgt.T, teacher_forcing)  # [T, B, V], outputs[0] stays 0
    assert (theirs[0] == 0).all()
    torch.testing.assert_close(theirs[1:].permute(1, 0, 2), ours.logits)


def test_the_reference_gives_padding_no_attention():
    _, tutorial = library_and_reference()
    src = torch.tensor([[5, 6, 7, 8], [9, 10, PAD_ID, PAD_ID]]).T  # [S, B]
    with torch.no_grad():
        outputs, hidden, cell = tutorial.encoder(src)
        weights = tutorial.decoder.attention(hidden[-1], outputs, (src != PAD_ID).T)  # [B, S]
    assert (weights[1, 2:] == 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(2))


def test_the_reference_decodes_like_the_library_without_padding():
    library, tutorial = library_and_reference()
    src = torch.randint(4, V_SRC, (4, 5), generator=torch.Generator().manual_seed(2))
    ours = greedy_decode(library, src, torch.full((4,), 5), max_len=7).tokens
    assert reference.greedy_decode(tutorial, src.T, max_len=7) == ours


def test_the_reference_train_step_learns_a_batch():
    _, tutorial = library_and_reference()
    batch = make_batches(toy_pairs(16), 16)[0]
    optimizer = torch.optim.Adam(tutorial.parameters(), lr=1e-2)
    losses = [float(reference.train_step(tutorial, optimizer, batch.src.T, batch.tgt.T, 1.0))
              for _ in range(15)]
    assert losses[-1] < 0.9 * losses[0], losses


def test_sample_pairs_is_seeded_and_without_replacement():
    pairs = toy_pairs(30)
    a, b = bench.sample_pairs(pairs, 10, seed=3), bench.sample_pairs(pairs, 10, seed=3)
    assert a == b and len(a) == 10
    assert len({id(p) for p in a}) == 10
    assert bench.sample_pairs(pairs, 10, seed=4) != a
    assert len(bench.sample_pairs(pairs, 100)) == 30


@pytest.fixture(scope="module")
def results():
    return bench.run_bench(toy_pairs(48), V_SRC, V_TGT, batches=2, batch_size=16, max_len=10,
                           n_decode=32, progress=False)


def test_run_bench_measures_every_model_and_the_reference(results):
    train = {(r["model"], r["batching"]) for r in results if r["what"] == "train"}
    assert train == {("rnn", "by length"), ("lstm", "by length"), ("attention", "by length"),
                     ("attention", "random"), ("reference", "random")}
    decode = {r["model"] for r in results if r["what"] == "decode"}
    assert decode == {"rnn", "lstm", "attention", "reference"}
    for r in results:
        assert r["value"] > 0 and r["device"] == "cpu" and r["threads"] >= 1
        if r["what"] == "train":
            assert r["unit"] == "target tokens/s" and r["teacher_forcing"] == 0.5
            assert r["batches"] == 2 and r["units"] > 0
            assert r["value"] == pytest.approx(r["units"] / r["seconds"])
        elif r["what"] == "decode":
            assert r["unit"] == "sentences/s" and "teacher_forcing" not in r


def test_run_bench_counts_the_tokens_the_loss_scores(results):
    pairs = bench.sample_pairs(toy_pairs(48), 2000, seed=0)
    by_length = make_batches(pairs, 16, shuffle=True, by_length=True, seed=0)
    expected = sum(b.n_target_tokens for b in by_length[1:3])  # batch 0 is the warm-up
    [attention] = [r for r in results if r["what"] == "train" and r["model"] == "attention"
                   and r["batching"] == "by length"]
    assert attention["units"] == expected


def test_run_bench_prints_ratios_of_the_same_teacher_forcing(results):
    ratios = {r["of"]: r for r in results if r["what"] == "ratio"}
    assert set(ratios) == {"train", "train, random batches", "decode"}

    def value(what, model, batching):
        [r] = [r for r in results if r["what"] != "ratio"
               and (r["what"], r["model"], r["batching"]) == (what, model, batching)]
        return r["value"]

    assert ratios["train"]["value"] == pytest.approx(
        value("train", "attention", "by length") / value("train", "reference", "random"))
    assert ratios["decode"]["value"] == pytest.approx(
        value("decode", "attention", "by length") / value("decode", "reference", "random"))
    assert "teacher forcing 0.5" in ratios["train"]["note"]
    assert ratios["train"]["teacher_forcing"] == 0.5


def test_results_are_json_lines_and_a_table(results):
    lines = bench.to_json_lines(results).splitlines()
    assert [json.loads(line) for line in lines] == results
    table = bench.format_results(results)
    assert "ratio attention/reference (train)" in table and "torch threads" in table


@pytest.fixture
def ci_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQ2CODE_PROFILE", "ci")
    monkeypatch.setenv("SEQ2CODE_CACHE", str(tmp_path))


def test_the_command_prints_json_lines(ci_env, capsys):
    assert main(["bench", "--json", "--batches", "1", "--pairs", "96", "--device", "cpu"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["what"] for r in lines} == {"train", "decode", "ratio"}
    assert all({"model", "what", "value", "unit", "device", "threads"} <= set(r) for r in lines)
    assert all(r["profile"] == "ci" for r in lines)


@pytest.mark.parametrize("argv", [
    ["bench", "--seconds", "0"],
    ["bench", "--batches", "0"],
    ["bench", "--seconds", "5", "--batches", "2"],
    ["bench", "--teacher-forcing", "1.5"],
    ["bench", "--device", "nowhere"],
])
def test_bad_bench_command_lines_are_one_line_errors(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("seq2code: error: ")


def test_training_flops_count_less_work_for_the_library_and_do_not_depend_on_time():
    pairs = toy_pairs(n=96, seed=3)
    first = bench.training_flops(pairs, V_SRC, V_TGT, n_pairs=96, batch_size=32)
    again = bench.training_flops(pairs, V_SRC, V_TGT, n_pairs=96, batch_size=32)
    assert first == again  # counted, not timed
    assert first["tokens"] == sum(len(tgt) - 1 for _, tgt in pairs)
    assert first["library"] > 0 and first["reference"] > first["library"]
    assert first["ratio"] == pytest.approx(first["reference"] / first["library"])
