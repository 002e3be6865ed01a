"""The command line: train, evaluate --json, generate, and its one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from seq2code.cli import main

METRIC_KEYS = {"exact_match", "exact_match_canonical", "bleu", "parse_rate", "n",
               "edit_distance", "split", "kind", "profile"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The environment of these tests: ci profile, a private model cache, the shared data."""
    values = {"SEQ2CODE_PROFILE": "ci",
              "SEQ2CODE_CACHE": str(tmp_path_factory.mktemp("cache"))}
    # the data: $SEQ2CODE_DATA, which the root conftest.py sets to the shared copy
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    yield dict(os.environ)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def run_dir(env, shared_data, tmp_path_factory):
    """A ci-profile RNN trained for one epoch through ``main``."""
    out = tmp_path_factory.mktemp("rnn")
    assert main(["train", "--model", "rnn", "--profile", "ci", "--out", str(out),
                 "--epochs", "1", "--quiet"]) == 0
    return out


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("seq2code: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_train_writes_best_and_last(run_dir, capsys):
    assert (run_dir / "best.pt").exists() and (run_dir / "last.pt").exists()


def test_evaluate_json_in_a_subprocess(run_dir, env):
    proc = subprocess.run([sys.executable, "-m", "seq2code", "evaluate", str(run_dir),
                           "--split", "dev", "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert METRIC_KEYS <= set(result)
    assert result["n"] == 200 and result["split"] == "dev"
    assert result["kind"] == "rnn" and result["profile"] == "ci"
    assert 0.0 <= result["exact_match"] <= result["exact_match_canonical"] + 1e-9 <= 1.0 + 1e-9


def test_train_and_evaluate_reproduce_the_chapters_numbers(run_dir, capsys):
    """The two commands that chapter 8's closing table prints for each row give the chapters'
    model and numbers: the weights of ``train`` equal those of the model cache's
    ``train_model`` (what a chapter calls), and ``evaluate --json`` gives its test metrics."""
    import torch

    from seq2code import experiment

    data = experiment.prepare_data("ci")
    chapter = experiment.train_model("rnn", data=data, train_options={"epochs": 1},
                                     progress=False)  # as a chapter trains it, cached
    command = experiment.load_trained(run_dir / "best.pt")
    chapter_weights, command_weights = chapter.model.state_dict(), command.model.state_dict()
    assert chapter_weights.keys() == command_weights.keys()
    for name, weight in chapter_weights.items():
        assert torch.equal(weight, command_weights[name]), name
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--split", "test", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    metrics = experiment.evaluate_model(chapter, data.test).metrics
    for key in ("n", "exact_match", "exact_match_canonical", "bleu", "parse_rate"):
        assert printed[key] == metrics[key], key


def test_evaluate_readable_table(run_dir, capsys):
    assert main(["evaluate", str(run_dir / "best.pt"), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "canonical exact match" in out and "BLEU" in out


def test_generate_prints_code(run_dir, capsys):
    from seq2code import experiment

    description = "return the value of x ."
    assert main(["generate", str(run_dir), description]) == 0
    out = capsys.readouterr().out
    trained = experiment.load_trained(run_dir / "best.pt")
    assert out == experiment.translate(trained, [description])[0] + "\n"


def test_generate_truncates_a_very_long_description_with_a_warning(run_dir, capsys):
    assert main(["generate", str(run_dir), "x" + " word" * 20_000]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("seq2code: warning: ")
    assert "truncated" in warnings[0]
    # one description on the command line: "the description", not a (0-based) number
    assert warnings[0].startswith("seq2code: warning: the description has 20001 tokens")
    assert "description 0" not in err and "description 1" not in err


@pytest.mark.parametrize("description", ["", "   \t  "])
def test_generate_refuses_an_empty_description(run_dir, capsys, description):
    assert main(["generate", str(run_dir), description]) == 2
    assert "description is empty" in _one_error_line(capsys.readouterr().err)


def test_missing_checkpoint(tmp_path, env, capsys):
    assert main(["evaluate", str(tmp_path / "nowhere.pt"), "--json"]) == 1
    _one_error_line(capsys.readouterr().err)
    assert main(["generate", str(tmp_path), "return x"]) == 1  # a folder without best.pt
    _one_error_line(capsys.readouterr().err)


def test_missing_checkpoint_in_a_subprocess(tmp_path, env):
    proc = subprocess.run([sys.executable, "-m", "seq2code", "generate",
                           str(tmp_path / "missing.pt"), "return x"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    _one_error_line(proc.stderr)


def test_corrupt_checkpoint(run_dir, tmp_path, capsys):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint at all")
    assert main(["evaluate", str(garbage), "--json"]) == 1
    _one_error_line(capsys.readouterr().err)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((run_dir / "best.pt").read_bytes()[:1000])
    assert main(["generate", str(truncated), "return x"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert f"{truncated} is truncated or corrupt" in line and "PyTorch" not in line


@pytest.mark.parametrize("content", [b"43\n", b"return the value of x\n",
                                     b"\x00\x01\x02 binary, but not torch's"])
def test_a_file_that_is_not_a_pytorch_file_is_named_as_such(tmp_path, env, capsys, content):
    """A text file given as the checkpoint is not called "truncated or corrupt (43)": the
    message names the file, says it is not a PyTorch file, and what to pass instead."""
    notes = tmp_path / "notes.txt"
    notes.write_bytes(content)
    assert main(["generate", str(notes), "return x"]) == 1
    out, err = capsys.readouterr()
    line = _one_error_line(err)
    assert f"{notes} is not a seq2code checkpoint" in line and "not a PyTorch file" in line
    assert "best.pt" in line and "--out DIR" in line
    assert "truncated" not in line and "corrupt" not in line and out == ""


def test_checkpoint_of_the_wrong_kind(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--model", "lstm", "--json"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "holds a model of kind 'rnn', not 'lstm'" in line
    assert "a 'rnn'" not in line


def test_unknown_model_kind(tmp_path, env, capsys):
    assert main(["train", "--model", "gpt9", "--out", str(tmp_path / "x")]) == 2
    assert "gpt9" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "x").exists()


def test_evaluate_with_a_beam(run_dir, capsys):
    from seq2code import experiment

    assert main(["evaluate", str(run_dir), "--beam", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert METRIC_KEYS <= set(result) and result["beam"] == 3 and result["n"] == 200
    trained = experiment.load_trained(run_dir / "best.pt")
    report = experiment.evaluate_model(trained, experiment.load_split("dev", "ci"), beam=3)
    assert result["exact_match"] == report.metrics["exact_match"]
    assert result["bleu"] == report.metrics["bleu"]


def test_generate_with_a_beam(run_dir, capsys):
    from seq2code import experiment

    description = "if x is None , return the value of y ."
    assert main(["generate", str(run_dir), description, "--beam", "4"]) == 0
    out = capsys.readouterr().out
    trained = experiment.load_trained(run_dir / "best.pt")
    assert out == experiment.translate(trained, [description], beam=4)[0] + "\n"


@pytest.mark.parametrize("command", [["evaluate"], ["generate", "return x"]])
def test_a_beam_below_one_is_refused(run_dir, capsys, command):
    assert main([command[0], str(run_dir), *command[1:], "--beam", "0"]) == 2
    assert "--beam" in _one_error_line(capsys.readouterr().err)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("timeout", ["-1", "0", "-0.5", "nan", "inf"])
def test_a_timeout_that_is_not_a_positive_number_is_refused(run_dir, capsys, timeout):
    """Up front, like ``--beam 0``: no code printed first, then "unexpected ValueError"."""
    assert main(["generate", str(run_dir), "return the value of x", "--run",
                 "--timeout", timeout]) == 2
    out, err = capsys.readouterr()
    line = _one_error_line(err)
    assert line == "seq2code: error: --timeout must be a positive number of seconds"
    assert out == ""


def test_evaluate_help_names_the_default_split(capsys):
    assert main(["evaluate", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert ("--split {dev,test} the examples to score: dev, or test for the final numbers "
            "(default: dev)") in help_text


def test_missing_data(run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEQ2CODE_DATA", str(tmp_path / "no-data-here"))
    assert main(["evaluate", str(run_dir), "--json"]) == 1
    _one_error_line(capsys.readouterr().err)


def test_usage_errors_are_one_line(capsys):
    assert main([]) == 2
    _one_error_line(capsys.readouterr().err)
    assert main(["evaluate"]) == 2
    _one_error_line(capsys.readouterr().err)
    assert main(["bench", "--batches", "0"]) == 2  # bench exists now (chapter 5): a bad budget
    _one_error_line(capsys.readouterr().err)
    assert main(["train", "--model", "rnn", "--out", "x", "--epochs", "zero"]) == 2
    _one_error_line(capsys.readouterr().err)


# --- bad input on the public face: a result or one clear line, never a traceback ------------

@pytest.mark.parametrize("description", [
    "définir la fonction café avec l'argument «naïve»",     # non-ASCII letters and quotes
    "call foo\x07 with\x1b[31m bar\x00 baz\u200b",          # control characters, zero-width space
    "zqxv wvvkq jjjxq pffft",                               # only words no vocabulary knows
    "返回 列表 的 长度 😀",                                   # no Latin letters at all
    "!!! ??? ((( ]]]",                                      # punctuation only
])
def test_generate_gives_code_for_odd_descriptions(run_dir, capsys, description):
    assert main(["generate", str(run_dir), description]) == 0
    out, err = capsys.readouterr()
    assert out.endswith("\n") and "Traceback" not in err


@pytest.mark.parametrize("description", ["zqxv wvvkq jjjxq pffft", "zqxv , wvvkq ."])
def test_generate_warns_when_it_knows_no_word_of_the_description(run_dir, capsys, description):
    """Only <unk> goes in: the code still comes out, with one warning line that says so
    (punctuation the vocabulary knows does not count as a known word)."""
    assert main(["generate", str(run_dir), description]) == 0
    out, err = capsys.readouterr()
    assert out.endswith("\n") and out.strip()
    [line] = [line for line in err.splitlines() if line.strip()]
    assert line == ("seq2code: warning: none of the description's words is in the model's "
                    "English vocabulary: it reads only <unk>, so the code it writes is "
                    "meaningless")


def test_generate_does_not_warn_when_it_knows_a_word(run_dir, capsys):
    assert main(["generate", str(run_dir), "zqxv wvvkq return the value"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() and err == ""


@pytest.mark.parametrize("description", ["\x00\x01\x02", "\u200b\u200b", "\n\r\t\x0b\x0c",
                                         "\x1b\x7f"])
def test_generate_refuses_descriptions_without_a_token(run_dir, capsys, description):
    """Control and invisible characters are not words: such a description is empty (and the
    one description of the command line is "the description", not "description 0")."""
    assert main(["generate", str(run_dir), description]) == 2
    assert _one_error_line(capsys.readouterr().err) == (
        "seq2code: error: the description is empty: give an English description in quotes")


def test_generate_a_100000_character_description_in_a_subprocess(run_dir, env):
    """The real process: one warning line on stderr, the code on stdout, exit 0."""
    description = ("return the value of the attribute name of the object self " * 1700)[:100_000]
    result = subprocess.run([sys.executable, "-m", "seq2code", "generate", str(run_dir),
                             description], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    [warning] = [line for line in result.stderr.splitlines() if line.strip()]
    assert warning.startswith("seq2code: warning: ") and "truncated" in warning
    assert result.stdout.strip()


def test_generate_run_reports_in_one_line_and_runs_the_code_elsewhere(run_dir, capsys):
    assert main(["generate", str(run_dir), "return the value of x", "--run",
                 "--timeout", "2"]) == 0
    out, err = capsys.readouterr()
    assert out.strip()
    [line] = [line for line in err.splitlines() if line.strip()]
    assert line.startswith("seq2code: run: ")
    assert any(word in line for word in ("ran without error", "raised", "timed out", "killed"))


@pytest.fixture(scope="module")
def rerank_dirs(env, shared_data, tmp_path_factory):
    """A ci-profile copy model with dropout, a weight average, label smoothing and a time
    budget, and a reverse model, one epoch each, trained through ``main``."""
    forward, reverse = tmp_path_factory.mktemp("copy"), tmp_path_factory.mktemp("reverse")
    assert main(["train", "--model", "copy", "--profile", "ci", "--out", str(forward),
                 "--epochs", "1", "--quiet", "--dropout", "0.3", "--average", "0.99",
                 "--label-smoothing", "0.1", "--minutes", "30"]) == 0
    assert main(["train", "--model", "copy", "--profile", "ci", "--out", str(reverse),
                 "--epochs", "1", "--quiet", "--reverse"]) == 0
    return forward, reverse


def test_train_with_dropout_average_smoothing_and_reverse(rerank_dirs):
    from seq2code.checkpoint import load_checkpoint

    forward = load_checkpoint(rerank_dirs[0] / "best.pt")
    assert forward["model_config"]["dropout"] == 0.3
    assert forward["train_config"]["average_decay"] == 0.99
    assert forward["train_config"]["label_smoothing"] == 0.1
    assert forward["train_config"]["max_minutes"] == 30
    reverse = load_checkpoint(rerank_dirs[1] / "best.pt")
    assert reverse["model_config"]["canonical"] is False
    assert "def" in reverse["src_vocab"]["itos"]  # it reads code


def test_evaluate_and_generate_with_reranking(rerank_dirs, capsys):
    forward, reverse = rerank_dirs
    assert main(["evaluate", str(forward), "--split", "dev", "--beam", "3", "--rerank",
                 str(reverse), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 200 and result["beam"] == 3
    assert 0.0 <= result["beam_top_exact_match_canonical"] <= result["oracle"] <= 1.0
    # on dev the tuned weights are at least as good as the beam's own ranking's
    assert result["exact_match_canonical"] == result["dev_exact_match_reranked"]
    assert main(["evaluate", str(forward), "--split", "dev", "--beam", "3", "--rerank",
                 str(reverse), "--ensemble", str(forward), "--json"]) == 0
    # the same model twice: the mean of its scores is its scores
    assert json.loads(capsys.readouterr().out)["exact_match_canonical"] == pytest.approx(
        result["exact_match_canonical"])
    saved = json.loads((reverse / "rerank.json").read_text())
    assert saved["weights"] == result["weights"] and saved["beam"] == 3
    assert main(["generate", str(forward), "return the value of x", "--beam", "3",
                 "--rerank", str(reverse)]) == 0
    assert capsys.readouterr().out.strip()
    assert main(["generate", str(forward), "return the value of x", "--beam", "3",
                 "--rerank", str(reverse), "--weights", "0.5,0.1"]) == 0


@pytest.mark.parametrize("argv,message", [
    (["evaluate", "{f}", "--rerank", "{r}"], "--beam 2 or more"),
    (["generate", "{f}", "x", "--rerank", "{r}"], "--beam 2 or more"),
    (["generate", "{f}", "x", "--weights", "1,2"], "give --rerank"),
    (["generate", "{f}", "x", "--beam", "3", "--rerank", "{f}"], "no tuned weights"),
    (["generate", "{f}", "x", "--beam", "3", "--rerank", "{r}", "--weights", "a"], "REV,LEN"),
    (["evaluate", "{f}", "--beam", "3", "--ensemble", "{f}"], "give --rerank"),
    (["train", "--model", "copy", "--out", "x", "--dropout", "1.5"], "--dropout"),
    (["train", "--model", "copy", "--out", "x", "--average", "1"], "--average"),
    (["train", "--model", "copy", "--out", "x", "--label-smoothing", "1"], "--label-smoothing"),
    (["train", "--model", "copy", "--out", "x", "--minutes", "0"], "--minutes"),
])
def test_reranking_usage_errors(rerank_dirs, capsys, argv, message):
    forward, reverse = rerank_dirs
    argv = [a.format(f=forward, r=reverse) for a in argv]
    assert main(argv) == 2
    assert message in _one_error_line(capsys.readouterr().err)
