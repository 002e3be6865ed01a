"""The model cache: folder, stable keys, paths, and create-only-when-missing."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from seq2code import cache


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    assert cache.cache_dir() == tmp_path
    monkeypatch.delenv(cache.CACHE_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "seq2code"


def test_key_ignores_key_order_and_is_short_hex():
    a = cache.config_key({"kind": "rnn", "train": {"lr": 1e-3, "epochs": 2}})
    b = cache.config_key({"train": {"epochs": 2, "lr": 1e-3}, "kind": "rnn"})
    assert a == b
    assert len(a) == cache.KEY_LENGTH
    assert all(c in "0123456789abcdef" for c in a)


def test_key_is_stable_across_sessions():
    # The key is a function of the canonical JSON alone: a fixed digest, not a hash() seed.
    import hashlib
    expected = hashlib.sha256(b'{"a":1,"b":[1,2]}').hexdigest()[:cache.KEY_LENGTH]
    assert cache.config_key({"b": (1, 2), "a": 1}) == expected


@pytest.mark.parametrize("change", [
    {"epochs": 3}, {"lr": 0.002}, {"seed": 1}, {"extra": None},
])
def test_any_change_gives_another_key(change):
    base = {"epochs": 2, "lr": 0.001, "seed": 0}
    assert cache.config_key({**base, **change}) != cache.config_key(base)


def test_version_is_part_of_the_key_only_when_given():
    config = {"kind": "lstm"}
    assert cache.config_key(config, version="0.1.0") != cache.config_key(config)
    assert cache.config_key(config, version="0.1.0") != cache.config_key(config, version="0.2.0")


def test_dataclasses_and_paths_are_plain_data():
    @dataclass
    class Settings:
        epochs: int
        folder: Path

    assert cache.config_key({"s": Settings(2, Path("a/b"))}) == cache.config_key(
        {"s": {"epochs": 2, "folder": "a/b"}})


def test_objects_without_a_stable_form_are_refused():
    with pytest.raises(TypeError, match="cache key"):
        cache.config_key({"model": object()})
    with pytest.raises(ValueError):
        cache.config_key({"lr": float("nan")})


def test_cached_path_names_kind_and_key(root):
    path = cache.cached_path("attention", {"a": 1})
    assert path == root / "models" / f"attention-{cache.config_key({'a': 1})}.pt"


@pytest.mark.parametrize("kind", ["../evil", "RNN", "", "a b"])
def test_kind_must_be_a_plain_name(root, kind):
    with pytest.raises(ValueError):
        cache.cached_path(kind, {})


def test_create_runs_once_then_the_file_is_reused(root):
    calls = []

    def create(path: Path) -> None:
        assert path.parent.is_dir()
        calls.append(path)
        path.write_bytes(b"weights")

    first = cache.get_or_create("rnn", {"seed": 0}, create)
    second = cache.get_or_create("rnn", {"seed": 0}, create)
    assert first == second and first.read_bytes() == b"weights"
    assert len(calls) == 1
    cache.get_or_create("rnn", {"seed": 1}, create)
    assert len(calls) == 2


def test_an_interrupted_create_leaves_nothing_to_reuse(root):
    def crash(path: Path) -> None:
        (path.parent / (path.name + ".partial")).write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.get_or_create("lstm", {"seed": 0}, crash)
    assert not cache.cached_path("lstm", {"seed": 0}).exists()

    made = cache.get_or_create("lstm", {"seed": 0}, lambda p: p.write_bytes(b"whole"))
    assert made.read_bytes() == b"whole"


def test_create_that_writes_nothing_is_an_error(root):
    with pytest.raises(RuntimeError, match="did not write"):
        cache.get_or_create("rnn", {}, lambda path: None)


def test_explicit_root_wins_over_the_environment(root, tmp_path):
    other = tmp_path / "other"
    path = cache.get_or_create("rnn", {}, lambda p: p.write_bytes(b"x"), root=other)
    assert path.parent == other / "models"
    assert not root.exists()
