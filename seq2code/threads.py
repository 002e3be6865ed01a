"""How many threads torch computes with, and how busy the machine is.

PyTorch starts as many intra-op threads as the machine has cores, whatever else runs on them.
Two torch processes with two threads each on two cores ran 5 to 10 times slower than with one
thread each: the threads wait on each other at every operation. :func:`configure_threads`
sets a sensible count (an explicit one, else ``$OMP_NUM_THREADS``, else the CPUs this process
may use) and :func:`threads_report` says what was set and how loaded the machine was, so that
a measurement can be read in its context.

::

    from seq2code.threads import configure_threads, threads_report
    configure_threads()        # $OMP_NUM_THREADS, else the CPUs this process may run on
    configure_threads(1)       # one thread, e.g. next to another job on a 2-core machine
    threads_report()           # {"threads": 1, "cpus": 2, "load_1m": 0.52}
"""

from __future__ import annotations

import os

import torch

THREADS_ENV = "OMP_NUM_THREADS"


def available_cpus() -> int:
    """The number of CPUs this process may run on: its affinity mask where the system has one
    (``os.sched_getaffinity``, Linux), else ``os.cpu_count()``; at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def _threads_from_env() -> int | None:
    """``$OMP_NUM_THREADS`` as a positive count (its first entry for a nested list such as
    ``"4,2"``), or None when it is unset, empty or not a positive integer."""
    value = os.environ.get(THREADS_ENV, "").split(",")[0].strip()
    try:
        count = int(value)
    except ValueError:
        return None
    return count if count >= 1 else None


def configure_threads(n: int | None = None) -> int:
    """Set torch's intra-op thread count (``torch.set_num_threads``) and return it.

    Args:
        n: the count; None takes ``$OMP_NUM_THREADS`` when it holds a positive integer, else
            :func:`available_cpus`.

    Raises:
        ValueError: for an explicit ``n`` below 1.
    """
    if n is not None and n < 1:
        raise ValueError(f"the thread count must be at least 1, got {n}")
    count = n if n is not None else (_threads_from_env() or available_cpus())
    torch.set_num_threads(count)
    return count


def load_average() -> float | None:
    """The 1-minute load average (runnable processes, averaged; ``os.getloadavg()[0]``), or
    None where the system does not report one (Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def threads_report() -> dict:
    """``{"threads": torch's intra-op threads, "cpus": CPUs this process may use, "load_1m":
    the 1-minute load average or None}``: how a measurement was run and how busy the machine
    was (a load above ``cpus`` means processes waited for a core)."""
    return {"threads": torch.get_num_threads(), "cpus": available_cpus(),
            "load_1m": load_average()}
