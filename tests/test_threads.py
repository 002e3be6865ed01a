"""Thread count and load report (``seq2code.threads``)."""

import os

import pytest
import torch

from seq2code import threads


@pytest.fixture(autouse=True)
def restore_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def two_cpus(monkeypatch):
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)


def test_an_explicit_count_wins_over_the_environment(monkeypatch, two_cpus):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.configure_threads(1) == 1
    assert torch.get_num_threads() == 1


def test_the_environment_comes_next(monkeypatch, two_cpus):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(2)
    assert threads.configure_threads() == 1
    assert torch.get_num_threads() == 1


def test_a_nested_omp_list_gives_its_first_level(monkeypatch, two_cpus):
    monkeypatch.setenv("OMP_NUM_THREADS", "1,3")
    torch.set_num_threads(2)
    assert threads.configure_threads() == 1


@pytest.mark.parametrize("value", [None, "", "many", "0", "-2"])
def test_without_a_usable_environment_the_cpus_decide(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", value)
    monkeypatch.setattr(threads, "available_cpus", lambda: 1)
    torch.set_num_threads(2)
    assert threads.configure_threads() == 1
    assert torch.get_num_threads() == 1


def test_a_count_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        threads.configure_threads(0)


def test_available_cpus_follows_the_affinity_mask(monkeypatch):
    if hasattr(os, "sched_getaffinity"):
        assert threads.available_cpus() == len(os.sched_getaffinity(0))
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5})
        assert threads.available_cpus() == 3
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert threads.available_cpus() == 7
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert threads.available_cpus() == 1


def test_the_report_says_threads_cpus_and_load(monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.25, 0.5, 0.25))
    assert threads.threads_report() == {"threads": 1, "cpus": 2, "load_1m": 1.25}


def test_the_report_has_no_load_where_the_system_gives_none(monkeypatch):
    def unavailable():
        raise OSError("no load average")

    monkeypatch.setattr(os, "getloadavg", unavailable)
    assert threads.threads_report()["load_1m"] is None
