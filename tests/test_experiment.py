"""The experiment glue: data preparation, the model cache, translation and evaluation."""

from dataclasses import replace

import pytest
import torch

from seq2code import experiment
from seq2code.profiles import get_profile

# A profile even smaller than ci, so that a test trains in a few seconds.
TINY = replace(get_profile("ci"), name="tiny", train_size=300, dev_size=40, test_size=40,
               epochs=1, batch_size=32, min_freq=1, max_src_len=30, max_tgt_len=30)
SMALL_MODEL = {"emb_dim": 16, "hidden_dim": 32}


@pytest.fixture(autouse=True)
def _environment(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SEQ2CODE_CACHE", str(tmp_path_factory.getbasetemp() / "model-cache"))
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data(shared_data):
    return experiment.prepare_data(TINY, data_dir=shared_data)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    return experiment.train_model("rnn", data=data, use_cache=False, progress=False,
                                  out_dir=tmp_path_factory.mktemp("run"), **SMALL_MODEL)


def test_prepare_data_cuts_each_split_to_the_profile(data):
    assert [len(data.train), len(data.dev), len(data.test)] == [300, 40, 40]
    assert data.train[0].index == 0 and data.dev[0].index == 16000
    assert data.test[0].index == 17000
    assert len(data.pairs["train"]) == 300
    for split in ("train", "dev", "test"):
        assert len(data.nl_tokens[split]) == len(data.code_tokens[split]) == len(data.split(split))
    # vocabularies come from the cut train split only
    train_code = {tok for tokens in data.code_tokens["train"] for tok in tokens}
    assert set(data.tgt_vocab.itos[4:]) <= train_code
    # lengths are cut to the profile's maxima (+ <sos> and <eos> on the target side)
    assert max(len(src) for src, _ in data.pairs["train"]) <= TINY.max_src_len
    assert max(len(tgt) for _, tgt in data.pairs["train"]) <= TINY.max_tgt_len + 2


def test_prepare_data_is_deterministic(data, shared_data):
    again = experiment.prepare_data(TINY, data_dir=shared_data)
    assert again.digest() == data.digest()
    assert again.src_vocab == data.src_vocab and again.pairs == data.pairs


def test_second_train_model_call_is_a_cache_hit(data, monkeypatch):
    first = experiment.train_model("rnn", data=data, progress=False, **SMALL_MODEL)
    assert not first.from_cache
    assert first.checkpoint_path is not None and first.checkpoint_path.exists()

    def no_training(*args, **kwargs):
        raise AssertionError("a cache hit must not train")

    monkeypatch.setattr(experiment.training, "train", no_training)
    second = experiment.train_model("rnn", data=data, progress=False, **SMALL_MODEL)
    assert second.from_cache
    assert second.checkpoint_path == first.checkpoint_path
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(a, b)
    # another seed is another configuration: no hit, so it would have to train
    with pytest.raises(AssertionError, match="must not train"):
        experiment.train_model("rnn", data=data, seed=1, progress=False, **SMALL_MODEL)


def test_evaluate_model_returns_every_metric_and_the_predictions(trained, data):
    report = experiment.evaluate_model(trained, data.dev, batch_size=16)
    for key in ("exact_match", "exact_match_canonical", "bleu", "parse_rate",
                "edit_distance", "n", "by_length"):
        assert key in report.metrics
    assert report.metrics["n"] == len(data.dev)
    assert sum(row["n"] for row in report.metrics["by_length"]) == len(data.dev)
    assert len(report.predictions) == len(data.dev)
    first = report.predictions[0]
    assert set(first) == {"index", "nl", "reference", "prediction", "exact"}
    assert first["index"] == 16000
    assert len(report.samples(3)) == 3


def test_translate_and_a_reloaded_checkpoint_agree(trained):
    texts = ["return the value of x.", "call the function foo with an argument bar."]
    codes = experiment.translate(trained, texts)
    assert len(codes) == 2 and all(isinstance(c, str) for c in codes)
    reloaded = experiment.load_trained(trained.checkpoint_path)
    assert experiment.translate(reloaded, texts) == codes
    assert reloaded.kind == "rnn"


def test_translate_truncates_long_input_with_a_warning(trained):
    with pytest.warns(UserWarning, match="truncated"):
        [code] = experiment.translate(trained, ["word " * 5000])
    assert isinstance(code, str)


def test_translate_refuses_an_empty_description(trained):
    with pytest.raises(ValueError, match="empty"):
        experiment.translate(trained, ["   "])
    with pytest.raises(TypeError):
        experiment.translate(trained, "not a list")


def test_models_take_the_profiles_size_unless_asked_otherwise(tmp_path, shared_data):
    small = replace(TINY, name="tiny-small", emb_dim=12, hidden_dim=20)
    data = experiment.prepare_data(small, data_dir=shared_data)
    by_profile = experiment.train_model("rnn", data=data, use_cache=False, progress=False,
                                        out_dir=tmp_path / "a")
    assert by_profile.model.config["emb_dim"] == 12
    assert by_profile.model.config["hidden_dim"] == 20
    asked = experiment.train_model("rnn", data=data, use_cache=False, progress=False,
                                   out_dir=tmp_path / "b", hidden_dim=24)
    assert asked.model.config["hidden_dim"] == 24 and asked.model.config["emb_dim"] == 12


def test_the_cpu_profile_trains_the_course_size_for_fewer_epochs_than_full():
    cpu, full = get_profile("cpu"), get_profile("full")
    assert (full.emb_dim, full.hidden_dim) == (128, 256)  # the course's reference size
    assert (cpu.emb_dim, cpu.hidden_dim) == (full.emb_dim, full.hidden_dim)
    assert cpu.epochs < full.epochs and cpu.early_stop is None


def test_a_profile_stored_before_the_model_sizes_existed_still_reads():
    stored = get_profile("full").to_dict()
    del stored["emb_dim"], stored["hidden_dim"]
    assert experiment.resolve_profile(stored) == get_profile("full")


def test_the_full_profile_stops_early_and_the_others_run_every_epoch():
    assert experiment.make_train_config(get_profile("full")).early_stop == 5
    assert experiment.make_train_config(get_profile("cpu")).early_stop is None
    assert experiment.make_train_config(get_profile("ci")).early_stop is None


def test_a_cached_models_report_is_read_back_instead_of_decoded(data, monkeypatch):
    model = experiment.train_model("rnn", data=data, progress=False, **SMALL_MODEL)
    first = experiment.evaluate_model(model, data.dev)
    reports = list((experiment.cache.cache_dir() / "reports").glob("rnn-*.json"))
    assert reports, "the report was not kept"

    def no_decoding(*args, **kwargs):
        raise AssertionError("a kept report must not decode again")

    monkeypatch.setattr(experiment, "_decode", no_decoding)
    again = experiment.evaluate_model(model, data.dev)
    assert again == first  # the same metrics and predictions, through JSON
    # other examples, another beam, or use_cache=False: decode
    with pytest.raises(AssertionError, match="must not decode"):
        experiment.evaluate_model(model, data.dev[:10])
    with pytest.raises(AssertionError, match="must not decode"):
        experiment.evaluate_model(model, data.dev, beam=3)
    with pytest.raises(AssertionError, match="must not decode"):
        experiment.evaluate_model(model, data.dev, use_cache=False)


def test_a_damaged_report_is_evaluated_again(data):
    model = experiment.train_model("rnn", data=data, progress=False, **SMALL_MODEL)
    first = experiment.evaluate_model(model, data.test)
    for path in (experiment.cache.cache_dir() / "reports").glob("rnn-*.json"):
        path.write_text('{"metrics": ')  # cut short
    assert experiment.evaluate_model(model, data.test) == first


def test_a_model_outside_the_cache_keeps_no_report(trained, data):
    before = set((experiment.cache.cache_dir() / "reports").glob("*.json"))
    experiment.evaluate_model(trained, data.dev)  # trained into a run folder (out_dir)
    assert set((experiment.cache.cache_dir() / "reports").glob("*.json")) == before
