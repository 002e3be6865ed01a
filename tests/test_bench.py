"""The tutorial-style reference and the speed benchmark (``python -m seq2code bench``)."""

import json
import random
import statistics
from collections import Counter

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


REPEATS = 3
N_TOY = 48
TOY_BATCH = 16  # 48 pairs: 3 batches a pass


@pytest.fixture(scope="module")
def recorded():
    """One run of the benchmark on toy pairs, with every step it takes recorded as
    (what, model, batch) identities, in order; torch starts at 2 threads and the run pins 1."""
    calls = []
    real = {"train": bench.train_step, "ref_train": reference.train_step,
            "decode": bench.greedy_decode, "ref_decode": reference.greedy_decode}

    def library_train(model, optimizer, batch, **options):
        calls.append(("train", id(model), id(batch)))
        return real["train"](model, optimizer, batch, **options)

    def reference_train(model, optimizer, src, tgt, *args, **options):
        calls.append(("train", id(model), id(src)))
        return real["ref_train"](model, optimizer, src, tgt, *args, **options)

    def library_decode(model, src, src_lens, max_len):
        calls.append(("decode", id(model), id(src)))
        return real["decode"](model, src, src_lens, max_len)

    def reference_decode(model, src, max_len):
        calls.append(("decode", id(model), id(src)))
        return real["ref_decode"](model, src, max_len)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(bench, "train_step", library_train)
            patch.setattr(reference, "train_step", reference_train)
            patch.setattr(bench, "greedy_decode", library_decode)
            patch.setattr(reference, "greedy_decode", reference_decode)
            results = bench.run_bench(toy_pairs(N_TOY), V_SRC, V_TGT, repeats=REPEATS,
                                      n_pairs=N_TOY, batch_size=TOY_BATCH, max_len=10,
                                      n_decode=32, threads=1, progress=False)
        threads_after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    return {"results": results, "calls": calls, "threads_after": threads_after}


@pytest.fixture(scope="module")
def results(recorded):
    return recorded["results"]


def measured(results, what, model, batching):
    [r] = [r for r in results if r["what"] != "ratio"
           and (r["what"], r["model"], r["batching"]) == (what, model, batching)]
    return r


def test_run_bench_measures_every_model_and_the_reference(results):
    train = {(r["model"], r["batching"]) for r in results if r["what"] == "train"}
    assert train == {("rnn", "by length"), ("lstm", "by length"), ("attention", "by length"),
                     ("attention", "random"), ("reference", "random")}
    decode = {r["model"] for r in results if r["what"] == "decode"}
    assert decode == {"rnn", "lstm", "attention", "reference"}
    for r in results:
        assert r["value"] > 0 and r["device"] == "cpu"
        if r["what"] == "train":
            assert r["unit"] == "target tokens/s" and r["teacher_forcing"] == 0.5
            assert r["batches"] == N_TOY // TOY_BATCH and r["units"] > 0
        elif r["what"] == "decode":
            assert r["unit"] == "sentences/s" and "teacher_forcing" not in r
            assert r["units"] == 32  # every decoded sentence, once a pass


@pytest.mark.parametrize("what", ["train", "decode"])
def test_every_batch_is_processed_once_per_repeat_after_one_warm_up(recorded, what):
    steps = [(model, batch) for kind, model, batch in recorded["calls"] if kind == what]
    runs = list(dict.fromkeys(model for model, _ in steps))
    assert len(runs) == (5 if what == "train" else 4)
    for run in runs:
        counts = Counter(batch for model, batch in steps if model == run)
        first = next(batch for model, batch in steps if model == run)  # the warm-up batch
        n_batches = N_TOY // TOY_BATCH if what == "train" else 32 // TOY_BATCH
        assert len(counts) == n_batches
        assert counts.pop(first) == REPEATS + 1
        assert set(counts.values()) == {REPEATS}


def test_runs_take_turns_pass_by_pass_in_a_rotating_order(recorded):
    models = [model for kind, model, _ in recorded["calls"] if kind == "train"]
    runs = list(dict.fromkeys(models))
    assert models[:len(runs)] == runs  # one warm-up batch each, first
    passes = [models[i] for i in range(len(runs), len(models), N_TOY // TOY_BATCH)]
    assert models[len(runs):] == [m for m in passes for _ in range(N_TOY // TOY_BATCH)]
    assert passes == [run for r in range(REPEATS) for run in runs[r:] + runs[:r]]


def test_throughputs_are_per_pass_with_their_spread(results):
    for r in results:
        assert r["repeats"] == REPEATS == len(r["per_repeat"])
        assert r["min"] <= r["value"] <= r["max"]
        assert r["value"] == pytest.approx(statistics.median(r["per_repeat"]))
        assert (r["min"], r["max"]) == (min(r["per_repeat"]), max(r["per_repeat"]))
        if r["what"] != "ratio":
            assert len(r["pass_seconds"]) == REPEATS
            assert r["seconds"] == pytest.approx(sum(r["pass_seconds"]))
            assert r["per_repeat"] == pytest.approx([r["units"] / s for s in r["pass_seconds"]])


def test_a_pass_counts_every_token_the_loss_scores(results):
    every_target_token = sum(len(tgt) - 1 for _, tgt in toy_pairs(N_TOY))
    for r in results:
        if r["what"] == "train":
            assert r["units"] == every_target_token, r["model"]


def test_ratios_are_the_quotients_of_each_repeats_throughputs(results):
    ratios = {r["of"]: r for r in results if r["what"] == "ratio"}
    assert set(ratios) == {"train", "train, random batches", "decode"}
    reference_train = measured(results, "train", "reference", "random")["per_repeat"]
    for of, batching in (("train", "by length"), ("train, random batches", "random")):
        ours = measured(results, "train", "attention", batching)["per_repeat"]
        assert ratios[of]["per_repeat"] == pytest.approx(
            [a / b for a, b in zip(ours, reference_train, strict=True)])
        assert ratios[of]["unit"] == "x" and ratios[of]["teacher_forcing"] == 0.5
    ours = measured(results, "decode", "attention", "by length")["per_repeat"]
    theirs = measured(results, "decode", "reference", "random")["per_repeat"]
    assert ratios["decode"]["per_repeat"] == pytest.approx(
        [a / b for a, b in zip(ours, theirs, strict=True)])
    assert "teacher forcing 0.5" in ratios["train"]["note"]
    assert "code alone" in ratios["train, random batches"]["note"]


def test_threads_are_pinned_reported_and_restored(recorded):
    for r in recorded["results"]:
        assert r["threads"] == 1 and r["cpus"] >= 1
        assert r["load_before"] is None or r["load_before"] >= 0
        assert r["load_after"] is None or r["load_after"] >= 0
    assert recorded["threads_after"] == 2


def test_run_bench_refuses_no_repeats():
    with pytest.raises(ValueError, match="at least 1"):
        bench.run_bench(toy_pairs(8), V_SRC, V_TGT, repeats=0, progress=False)


def test_results_are_json_lines_and_a_table(results):
    lines = bench.to_json_lines(results).splitlines()
    assert [json.loads(line) for line in lines] == results
    table = bench.format_results(results)
    assert "ratio attention/reference (train)" in table and "torch threads" in table
    assert f"over {REPEATS} repeats" in table and "load average" in table


@pytest.fixture
def ci_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQ2CODE_PROFILE", "ci")
    monkeypatch.setenv("SEQ2CODE_CACHE", str(tmp_path))


def test_the_command_prints_json_lines(ci_env, capsys, shared_data):
    before = torch.get_num_threads()
    assert main(["bench", "--json", "--repeats", "1", "--pairs", "32", "--threads", "1",
                 "--device", "cpu"]) == 0
    assert torch.get_num_threads() == before
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["what"] for r in lines} == {"train", "decode", "ratio"}
    assert all({"model", "what", "value", "min", "max", "repeats", "unit", "device", "threads",
                "load_before", "load_after"} <= set(r) for r in lines)
    assert all(r["profile"] == "ci" and r["threads"] == 1 and r["repeats"] == 1
               and r["pairs"] == 32 for r in lines)


@pytest.mark.parametrize("argv", [
    ["bench", "--repeats", "0"],
    ["bench", "--repeats", "-1"],
    ["bench", "--repeats", "two"],
    ["bench", "--pairs", "0"],
    ["bench", "--threads", "0"],
    ["bench", "--seconds", "5"],
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
