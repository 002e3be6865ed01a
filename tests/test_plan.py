"""The training plan: which models the cache holds (train_model's key), minutes measured from
timed training steps, the T4 estimate and the cache's size (issue 19)."""

import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from seq2code import colab, experiment, models, plan, training
from seq2code.batching import make_batches
from seq2code.profiles import get_profile

REPO = Path(__file__).resolve().parents[1]
TINY = replace(get_profile("ci"), name="tiny", train_size=300, dev_size=40, test_size=40,
               epochs=2, batch_size=32, min_freq=1, max_src_len=30, max_tgt_len=30)
SMALL = {"emb_dim": 16, "hidden_dim": 32}


@pytest.fixture(autouse=True)
def _environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQ2CODE_CACHE", str(tmp_path / "model-cache"))
    monkeypatch.delitem(__import__("sys").modules, "google.colab", raising=False)
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data(shared_data):
    return experiment.prepare_data(TINY, data_dir=shared_data)


def test_model_spec_is_the_key_that_train_model_caches_under(data):
    request = plan.want("rnn", train_options={"tf_mode": "sequence"}, **SMALL)
    assert not plan.plan_training([request], data, steps=1).estimates[0].cached
    trained = experiment.train_model("rnn", data=data, progress=False,
                                     train_options={"tf_mode": "sequence"}, **SMALL)
    assert request.spec(data).cached_path() == trained.checkpoint_path
    after = plan.plan_training([request, plan.want("rnn", seed=1, **SMALL)], data, steps=1)
    cached, fresh = after.estimates
    assert cached.cached and cached.seconds == 0 and cached.timed_steps == 0
    assert not fresh.cached and fresh.seconds > 0  # another seed: another model
    assert [e.request for e in after.to_train] == [fresh.request]
    text = after.text()
    assert re.search(r"rnn \(emb_dim=16, hidden_dim=32, tf_mode=sequence\)\s+cached\s+read from the cache", text), text
    assert re.search(r"rnn \(emb_dim=16, hidden_dim=32, seed=1\)\s+to train\s+under a minute", text), text
    assert "To train: 1 model," in text


def test_estimate_scales_timed_steps_by_batches_and_epochs(data, monkeypatch):
    """The estimate is the timed train_step calls and dev batches, scaled: on a clock that
    a training step moves by 0.25 s and a dev batch by 2 s, the numbers are exact."""
    request = plan.want("lstm", train_options={"epochs": 3}, **SMALL)
    clock = {"now": 0.0}
    step, evaluate = training.train_step, plan._evaluate

    def timed_step(*args, **kwargs):
        clock["now"] += 0.25
        return step(*args, **kwargs)

    def timed_evaluate(model, batches, *args):
        clock["now"] += 2.0 * len(batches)
        return evaluate(model, batches, *args)

    monkeypatch.setattr(training, "train_step", timed_step)
    monkeypatch.setattr(plan, "_evaluate", timed_evaluate)
    monkeypatch.setattr(plan.time, "perf_counter", lambda: clock["now"])
    estimate = plan.estimate(request, data, device="cpu", steps=3, dev_steps=2)
    batches = make_batches(data.pairs["train"], TINY.batch_size, shuffle=True, seed=0)
    dev = make_batches(data.pairs["dev"], TINY.batch_size, shuffle=False)
    assert estimate.batches == len(batches) and estimate.timed_steps == 3
    assert estimate.dev_batches == len(dev)
    assert estimate.epochs == 3 and estimate.early_stop is None
    assert estimate.step_seconds == 0.25
    assert estimate.train_seconds == 0.25 * len(batches)
    assert estimate.dev_seconds == 2.0 * len(dev)
    assert estimate.seconds == 3 * (0.25 * len(batches) + 2.0 * len(dev))
    assert estimate.train_flops > estimate.dev_flops > 0


def test_estimate_scales_steps_by_their_batches_target_width(data, monkeypatch):
    """On a clock where a training step takes 0.01 s per column of its batch's target, the
    epoch's estimate is exactly 0.01 s times the columns of every batch (the long batches
    that five evenly spaced samples miss included), not five steps' mean times the count."""
    request = plan.want("lstm", train_options={"epochs": 1}, **SMALL)
    clock = {"now": 0.0}
    step = training.train_step

    def timed_step(model, optimizer, batch, **kwargs):
        clock["now"] += 0.01 * batch.tgt_out.size(1)
        return step(model, optimizer, batch, **kwargs)

    monkeypatch.setattr(training, "train_step", timed_step)
    monkeypatch.setattr(plan.time, "perf_counter", lambda: clock["now"])
    estimate = plan.estimate(request, data, device="cpu", steps=5, dev_steps=1)
    batches = make_batches(data.pairs["train"], TINY.batch_size, shuffle=True, seed=0)
    widths = [b.tgt_out.size(1) for b in batches]
    assert estimate.train_seconds == pytest.approx(0.01 * sum(widths))
    assert estimate.step_seconds * len(batches) != pytest.approx(0.01 * sum(widths))


def test_estimate_times_chapter_9s_training_as_train_runs_it(data, monkeypatch):
    """A request with label smoothing and an average: the timed steps smooth the loss and
    update the average, and each epoch's dev evaluation counts twice (the average's weights
    and the model's own, as ``train`` evaluates both)."""
    options = {"epochs": 2, "average_decay": 0.999, "label_smoothing": 0.1}
    seen, updates = [], []
    step, update = training.train_step, plan.WeightAverage.update

    def recording_step(*args, **kwargs):
        seen.append(kwargs.get("label_smoothing"))
        return step(*args, **kwargs)

    def counted_update(self):
        updates.append(1)
        return update(self)

    monkeypatch.setattr(training, "train_step", recording_step)
    monkeypatch.setattr(plan.WeightAverage, "update", counted_update)
    both = plan.estimate(plan.want("lstm", train_options=options, **SMALL), data,
                         device="cpu", steps=2, dev_steps=1)
    plain = plan.estimate(plan.want("lstm", train_options={"epochs": 2}, **SMALL), data,
                          device="cpu", steps=2, dev_steps=1, timed=False)
    assert seen[:3] == [0.1, 0.1, 0.1] and len(updates) == 3  # counted step + 2 timed
    assert both.dev_flops == pytest.approx(2 * plain.dev_flops)
    assert both.train_flops == pytest.approx(plain.train_flops)


def test_plan_leaves_the_random_state_and_the_cache_alone(data, tmp_path):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    plan.plan_training([plan.want("attention", **SMALL)], data, steps=2)
    assert torch.equal(torch.get_rng_state(), before)
    assert not (tmp_path / "model-cache").exists()


def test_a_model_asked_twice_is_planned_once(data):
    twice = plan.plan_training([plan.want("rnn", **SMALL), plan.want("rnn", label="again",
                                                                    **SMALL)], data, steps=1)
    assert len(twice.estimates) == 1


def test_flops_per_token_agree_with_the_benchmarks_count(data):
    """The plan counts a training step's work as bench.training_flops does (same model,
    other batches of the same data: within a fifth)."""
    from seq2code import bench

    estimate = plan.estimate(plan.want("attention"), data, device="cpu", steps=1, dev_steps=1)
    tokens = sum(len(tgt) - 1 for _, tgt in data.pairs["train"])  # y_1 .. <eos> per pair
    counted = bench.training_flops(data.pairs["train"], len(data.src_vocab),
                                   len(data.tgt_vocab), n_pairs=len(data.pairs["train"]),
                                   batch_size=TINY.batch_size)["library"]
    assert estimate.train_flops / tokens == pytest.approx(counted, rel=0.2)
    assert 0 < estimate.dev_flops < estimate.train_flops


def test_other_profiles_scale_the_measured_epochs():
    cpu = get_profile("cpu")
    estimate = plan.Estimate(plan.want("rnn"), None, cached=False, epochs=cpu.epochs,
                             early_stop=None, batches=250, train_seconds=30.0, dev_seconds=2.0,
                             train_flops=1e12, timed_steps=5)
    cached = plan.Estimate(plan.want("lstm"), None, cached=True, epochs=cpu.epochs,
                           early_stop=None)
    made = plan.Plan(cpu, "cpu", 2, [estimate, cached])
    assert made.seconds == pytest.approx(3 * 32.0)
    assert made.other_profiles() == {"full": pytest.approx(30 * 32.0)}  # ci: other epochs
    assert made.t4_seconds() == pytest.approx(3e12 / (plan.T4_ASSUMED_TFLOPS * 1e12))
    text = made.text()
    assert "about 2 minutes on this runtime" in text
    assert "the models to train would take: full up to about 16 minutes here." in text
    assert "assuming the T4 reaches 0.51 TFLOP/s" in text and "not measured" in text
    assert "This Colab runtime has no GPU" not in text


def test_a_colab_cpu_runtime_is_told_to_switch(monkeypatch):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setenv("SEQ2CODE_PROFILE", "ci")  # restored after the test
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    estimate = plan.Estimate(plan.want("rnn"), None, cached=False, epochs=3, early_stop=None,
                             batches=250, train_seconds=300.0, dev_seconds=20.0, train_flops=1e13,
                             timed_steps=5)
    text = plan.Plan(get_profile("cpu"), "cpu", 2, [estimate]).text()
    assert "This Colab runtime has no GPU" in text
    assert "Runtime > Change runtime type > T4 GPU" in text
    assert "takes about 16 minutes; on a T4 about 1 (estimated" in text
    printed = colab.setup_runtime(profile="cpu")
    assert any("Runtime > Change runtime type > T4 GPU" in line for line in printed)
    assert __import__("os").environ["SEQ2CODE_PROFILE"] == "cpu"


def test_setup_changes_nothing_off_colab(monkeypatch, tmp_path):
    monkeypatch.delenv(colab.DRIVE_ROOT_ENV, raising=False)
    monkeypatch.setenv("SEQ2CODE_PROFILE", "ci")
    before = __import__("os").environ["SEQ2CODE_CACHE"]
    assert colab.setup_runtime(keep_models_on_drive=False, profile="full") == []
    printed = colab.setup_runtime(keep_models_on_drive=True, profile="full")
    assert printed == [f"Keeping models on Google Drive works on Colab: here they stay in "
                       f"{before}."]
    assert __import__("os").environ["SEQ2CODE_CACHE"] == before
    assert __import__("os").environ["SEQ2CODE_PROFILE"] == "ci"


def test_drive_stand_in_moves_the_cache(monkeypatch, tmp_path):
    import os

    monkeypatch.setenv(colab.DRIVE_ROOT_ENV, str(tmp_path / "MyDrive"))
    printed = colab.setup_runtime(keep_models_on_drive=True)
    folder = tmp_path / "MyDrive" / colab.DRIVE_FOLDER
    assert os.environ["SEQ2CODE_CACHE"] == str(folder) and folder.is_dir()
    assert printed == [f"Model cache on your Drive: {folder} (0 models, 0 MB)."]


def test_chapters_ask_for_kinds_that_exist_and_their_notebooks_train():
    """Every kind a chapter's plan names exists, and every kind that a chapter's cells pass
    to train_model as a literal is in its plan."""
    for chapter, requests in plan.CHAPTERS.items():
        assert {r.kind for r in requests} <= set(models.KINDS), chapter
        source = next((REPO / "notebooks").glob(f"{chapter:02d}_*.py")).read_text()
        literal = set(re.findall(r'train_model\(\s*"(\w+)"', source))
        assert literal <= {r.kind for r in requests}, (chapter, literal)


def test_model_file_bytes_is_the_cache_files_size(data):
    trained = experiment.train_model("lstm", data=data, progress=False, **SMALL)
    measured = plan.model_file_bytes(plan.want("lstm", **SMALL), data)
    assert measured == pytest.approx(trained.checkpoint_path.stat().st_size, rel=0.02)


@pytest.fixture(scope="module")
def cpu_data(shared_data):
    return experiment.prepare_data("cpu", data_dir=shared_data)


def setup_default_profile() -> str:
    """The profile that the setup cell's form gives on Colab unless the student changes it."""
    setup = (REPO / "notebooks" / "01_task_and_data.py").read_text(encoding="utf-8")
    return re.search(r'^PROFILE = "(\w+)"  # @param', setup, re.M).group(1)


def test_usage_page_states_the_computed_t4_minutes_and_cache_sizes(cpu_data):
    """The usage page's T4 minutes per chapter and the cache's size are the ones computed
    here; and the setup cell's default profile keeps every chapter under 20 minutes on a T4
    (under the stated assumption)."""
    usage = (REPO / "book" / "usage.md").read_text(encoding="utf-8")
    minutes = plan.t4_minutes_by_chapter(cpu_data)
    for chapter, by_profile in minutes.items():
        row = f"| {chapter} | {by_profile['cpu']:.1f} | {by_profile['full']:.0f} |"
        assert row in usage, row
    default = setup_default_profile()
    assert default in ("cpu", "full")
    assert max(m[default] for m in minutes.values()) <= 20
    # what the page says: cpu under 20 minutes with a T4 ten times slower than assumed,
    # full's longest chapter close to 20 minutes (within a quarter)
    assert default == "cpu" and 10 * max(m["cpu"] for m in minutes.values()) <= 20
    assert 15 <= max(m["full"] for m in minutes.values())
    sizes = {name: sum(plan.model_file_bytes(r, cpu_data, get_profile(name).epochs)
                       for r in plan.course_requests()) / 1e6 for name in ("cpu", "full")}
    for name, size in sizes.items():
        assert f"{name}: {size:.0f} MB" in usage, (name, size)
    assert len(plan.course_requests()) == 16 and "the sixteen of chapters 2 to 9" in usage


def test_training_progress_bars_show_the_time_left(data, capsys):
    """tqdm's bar of each epoch shows the epoch, the loss and the time left
    (``elapsed<remaining``)."""
    model = models.build_model("rnn", len(data.src_vocab), len(data.tgt_vocab), **SMALL)
    config = training.TrainConfig(epochs=1, batch_size=32, max_decode_len=30)
    training.train(model, data.pairs["train"][:200], data.pairs["dev"][:20], config,
                   device="cpu", progress=True)
    bar = capsys.readouterr().err
    assert re.search(r"epoch 1/1: .*\d\d:\d\d<\d\d:\d\d.*loss=", bar), bar[-500:]


def test_chapter_9s_plan_uses_the_chapters_own_settings():
    """Chapter 9 defines its regularised configuration in its cells; the plan's copy of it
    must be the same, or the plan would list models the chapter never trains."""
    source = (REPO / "notebooks" / "09_state_of_the_art.py").read_text(encoding="utf-8")
    assert f"DROPOUT, DECAY, SEEDS = {plan.CH9_DROPOUT}, {plan.CH9_DECAY}, {plan.CH9_SEEDS}" \
        in source
    assert 'REGULARISED = {"dropout": DROPOUT, "train_options": {"average_decay": DECAY}}' \
        in source
    assert f"SMOOTHING = {plan.CH9_SMOOTHING}  # epsilon" in source
    assert 'train_options={**KEPT["train_options"], "label_smoothing": SMOOTHING})' in source
    assert "train_model(\"copy\", data=rerank.reverse_data(data), canonical=False, **KEPT)" \
        in source


def test_a_model_on_other_data_is_planned_on_that_data(data, shared_data):
    smaller = replace(TINY, train_size=100)
    prepared = []

    def prepare(chapter_data):
        prepared.append(chapter_data)
        return experiment.prepare_data(smaller, data_dir=shared_data)

    request = plan.want("rnn", prepare=prepare, **SMALL)
    made = plan.plan_training([request], data, steps=1)
    assert prepared == [data]  # made once from the chapter's data
    assert made.estimates[0].batches == len(make_batches(
        request.data_for(data).pairs["train"], TINY.batch_size, shuffle=True, seed=0)) == 4
    assert made.estimates[0].spec.key["data"]["sizes"]["train"] == 100


def test_every_chapter_that_trains_prints_its_plan_first():
    """A chapter whose cells train (train_model, or training.train by hand) prints
    plan_training(CHAPTERS[n], data) in a code cell before the first of them."""
    import nbformat

    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        chapter = int(path.name[:2])
        cells = [cell.source for cell in nbformat.read(path, as_version=4).cells
                 if cell.cell_type == "code"]
        training_cells = [i for i, source in enumerate(cells)
                          if re.search(r"\btrain_model\(|\btraining\.train\(", source)]
        if not training_cells:
            assert chapter not in plan.CHAPTERS, f"{path.name} trains nothing"
            continue
        assert chapter in plan.CHAPTERS, f"{path.name} trains: add it to plan.CHAPTERS"
        call = f"print(plan_training(CHAPTERS[{chapter}], data))"
        planned = [i for i, source in enumerate(cells) if call in source]
        assert planned and planned[0] < training_cells[0], (
            f"{path.name}: print the plan before code cell {training_cells[0]}")
