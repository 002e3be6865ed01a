"""Exercises that check themselves: the framework every chapter's checks are written with.

A check is a function that receives the student's answer (usually a function), runs it on
small cases and raises :class:`Hint` with a specific message when something is wrong::

    from seq2code.exercises import Hint, exercise

    @exercise
    def check_shift_by_one(shift_by_one):
        \"\"\"The decoder's input and target, shifted by one.\"\"\"
        tgt_in, tgt_out = shift_by_one(torch.tensor([[1, 5, 2]]))
        if tgt_in.shape[1] != 2:
            raise Hint("tgt_in must drop the last position")

The decorated check takes ``(answer, *, strict=False)`` and returns a :class:`Feedback`,
which it also shows (as HTML in a notebook, as text elsewhere). It never raises, unless
``strict=True`` (solution cells), where anything but a correct answer raises
``AssertionError``:

- the answer raises ``NotImplementedError`` (the untouched stub): "not attempted";
- the check raises :class:`Hint`: "wrong", with the hint as the message;
- the answer raises any other exception: "wrong", naming the exception;
- otherwise "correct": the message says only that the answer passes (a solution cell's
  output shows under its collapsed input, so it must not give the answer away); what was
  checked (what the check returns, or the first paragraph of its docstring) is kept in
  ``Feedback.checked``.

Chapter ``N``'s checks live in ``seq2code/exercises/chNN.py``. The helpers below compare
tensors with shape-first hints and give modules reproducible weights.
"""

from __future__ import annotations

import functools
import html
import math
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = [
    "CORRECT", "CORRECT_MESSAGE", "NOT_ATTEMPTED", "WRONG", "Feedback", "Hint", "exercise",
    "recording",
    "expect_tensor", "expect_shape", "expect_close", "fmt_shape", "constant_init",
    "ramp_init", "shape_error_hint",
]

CORRECT, WRONG, NOT_ATTEMPTED = "correct", "wrong", "not attempted"
NOT_ATTEMPTED_MESSAGE = "replace `raise NotImplementedError` with your code"
# What a correct answer is told. It does not restate what was checked: the output of a
# solution cell shows under its collapsed input, and the check's summary (a formula, a count)
# would give the answer away there. The summary stays in Feedback.checked.
CORRECT_MESSAGE = "your answer passes every check"


class Hint(Exception):
    """Raised by a check when the answer is wrong; its message tells the student why."""


# --------------------------------------------------------------------------------------
# Feedback: what a check returns and shows
# --------------------------------------------------------------------------------------

_STYLE = {  # status -> (symbol, label, border colour, background colour)
    CORRECT: ("✅", "Correct", "#2e7d32", "#e8f5e9"),
    WRONG: ("❌", "Not yet", "#c62828", "#ffebee"),
    NOT_ATTEMPTED: ("⏳", "Not attempted yet", "#9e9e9e", "#f5f5f5"),
}


def _inline_code_html(text: str) -> str:
    """Escape ``text`` for HTML, rendering `backquoted` spans as code."""
    parts = re.split(r"`([^`]+)`", text)
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p)
                   for i, p in enumerate(parts))


@dataclass
class Feedback:
    """The verdict of a check.

    Attributes:
        status: ``"correct"``, ``"wrong"`` or ``"not attempted"``.
        message: the hint (wrong), :data:`CORRECT_MESSAGE` (correct), or what to do (not
            attempted).
        exercise: the name of the check.
        checked: what a passing check verified (its docstring's first paragraph, or the
            string it returned); kept for tests and readers of the code, never shown, since
            it states the answer.
    """

    status: str
    message: str
    exercise: str = ""
    checked: str = ""
    _shown_at: object = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.status not in _STYLE:
            raise ValueError(f"unknown status {self.status!r}; expected one of {list(_STYLE)}")

    @property
    def correct(self) -> bool:
        return self.status == CORRECT

    def __bool__(self) -> bool:
        return self.correct

    def text(self) -> str:
        symbol, label, _, _ = _STYLE[self.status]
        return f"{symbol} {label}: {self.message}"

    def __repr__(self) -> str:
        return self.text()

    __str__ = __repr__

    def _repr_html_(self) -> str:
        symbol, label, border, background = _STYLE[self.status]
        return (f'<div class="seq2code-feedback seq2code-{self.status.replace(" ", "-")}" '
                f'style="border-left: 4px solid {border}; background: {background}; '
                f'color: #212121; padding: 0.4em 0.8em; margin: 0.3em 0;">'
                f"{symbol} <strong>{label}</strong>: {_inline_code_html(self.message)}</div>")

    def _ipython_display_(self) -> None:
        # A check shows its feedback itself; when its call is also a cell's last line,
        # IPython would show the returned Feedback a second time: skip that one.
        ip = _ipython()
        if ip is not None and self._shown_at == ip.execution_count:
            return
        _show(self)

    def show(self) -> None:
        """Show the feedback: as HTML in IPython, printed otherwise."""
        _show(self)


def _ipython():
    """The running IPython shell, or None (plain Python, pytest)."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def _show(feedback: Feedback) -> None:
    ip = _ipython()
    if ip is None:
        print(feedback.text())
        return
    from IPython.display import display

    display({"text/plain": feedback.text(), "text/html": feedback._repr_html_()}, raw=True)
    feedback._shown_at = ip.execution_count


# --------------------------------------------------------------------------------------
# The decorator
# --------------------------------------------------------------------------------------

_recorders: list[list[Feedback]] = []


@contextmanager
def recording() -> Iterator[list[Feedback]]:
    """Collect every :class:`Feedback` that checks give inside the ``with`` block (tests)."""
    collected: list[Feedback] = []
    _recorders.append(collected)
    try:
        yield collected
    finally:
        _recorders.remove(collected)


def _summary(check: Callable) -> str:
    """The first paragraph of the check's docstring, on one line."""
    doc = (check.__doc__ or "").strip()
    first = doc.split("\n\n")[0]
    return " ".join(line.strip() for line in first.splitlines()) or "all checks passed"


def exercise(check: Callable) -> Callable[..., Feedback]:
    """Turn ``check(answer)`` (raising :class:`Hint` when wrong) into a friendly check.

    The result is called as ``check(answer, *, strict=False)``; it shows and returns a
    :class:`Feedback` and never raises, except with ``strict=True`` where anything but a
    correct answer raises ``AssertionError`` carrying the message.
    """

    @functools.wraps(check)
    def run(answer, *, strict: bool = False) -> Feedback:
        try:
            result = check(answer)
        except NotImplementedError:
            feedback = Feedback(NOT_ATTEMPTED, NOT_ATTEMPTED_MESSAGE, check.__name__)
        except Hint as hint:
            feedback = Feedback(WRONG, str(hint), check.__name__)
        except Exception as error:  # noqa: BLE001 - the student's code may raise anything
            who = "your function" if callable(answer) else "your code"
            feedback = Feedback(WRONG, f"{who} raised {_describe(error)}", check.__name__)
        else:
            checked = result if isinstance(result, str) else _summary(check)
            feedback = Feedback(CORRECT, CORRECT_MESSAGE, check.__name__, checked)
        for collected in _recorders:
            collected.append(feedback)
        feedback.show()
        if strict and not feedback.correct:
            raise AssertionError(f"{check.__name__}: {feedback.text()}")
        return feedback

    run.is_exercise_check = True
    return run


def _describe(error: BaseException) -> str:
    """``RuntimeError: size mismatch ...``, the first line of the message only."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


# --------------------------------------------------------------------------------------
# Helpers for checks
# --------------------------------------------------------------------------------------

def fmt_shape(shape) -> str:
    """``[2, 3]`` for a shape (torch.Size, tuple or list)."""
    return "[" + ", ".join(str(int(n)) for n in shape) + "]"


def expect_tensor(value, name: str = "your result") -> torch.Tensor:
    """``value`` if it is a tensor; otherwise a hint naming what it is."""
    if value is None:
        raise Hint(f"{name} is None: did you forget to `return` it?")
    if not isinstance(value, torch.Tensor):
        raise Hint(f"{name} should be a torch.Tensor, got {type(value).__name__}")
    return value


def expect_shape(value, shape, name: str = "your result") -> torch.Tensor:
    """``value`` if it is a tensor of ``shape``; otherwise a hint with both shapes."""
    value = expect_tensor(value, name)
    if tuple(value.shape) != tuple(shape):
        extra = ""
        if sorted(value.shape) == sorted(shape) and value.dim() >= 2:
            extra = " (the same sizes in another order: an axis is swapped or transposed?)"
        raise Hint(f"{name}: expected shape {fmt_shape(shape)}, got {fmt_shape(value.shape)}"
                   + extra)
    return value


def _same(value: torch.Tensor, other: torch.Tensor, atol: float, rtol: float) -> bool:
    """Same shape and values (floats up to ``atol``/``rtol``; NaN equal to NaN)."""
    if tuple(value.shape) != tuple(other.shape):
        return False
    if value.is_floating_point() or other.is_floating_point():
        return bool(torch.allclose(value.detach().cpu().double(), other.detach().cpu().double(),
                                   atol=atol, rtol=rtol, equal_nan=True))
    return bool(torch.equal(value.detach().cpu().long(), other.detach().cpu().long()))


def expect_close(value, expected: torch.Tensor, name: str = "your result", *,
                 mistakes: list[tuple[torch.Tensor, str]] = (), atol: float = 1e-5,
                 rtol: float = 1e-4) -> torch.Tensor:
    """Compare ``value`` with ``expected``: type, known mistakes, shape, dtype, then values.

    ``mistakes`` lists ``(what that mistake returns, its hint)``: a value equal to one of
    them gets that specific hint. Otherwise the hint names the first thing that differs,
    e.g. "expected shape [2, 3], got [3, 2]" or "values differ at 2 of 6 positions, first
    at (0, 1): expected 0.5, got 0.25".
    """
    value = expect_tensor(value, name)
    if not _same(value, expected, atol, rtol):
        for wrong, hint in mistakes:
            if _same(value, wrong, atol, rtol):
                raise Hint(hint)
    value = expect_shape(value, expected.shape, name)
    if expected.dtype == torch.bool and value.dtype != torch.bool:
        raise Hint(f"{name} should be a bool tensor (True/False), got dtype {value.dtype}")
    if expected.is_floating_point() and not value.is_floating_point():
        raise Hint(f"{name} should hold floats, got dtype {value.dtype}")
    if not expected.is_floating_point() and value.is_floating_point():
        raise Hint(f"{name} should hold integers, got dtype {value.dtype}")
    value_d = value.detach().cpu().to(torch.float64 if expected.is_floating_point()
                                      else torch.long)
    expected_d = expected.detach().cpu().to(value_d.dtype)
    if expected.is_floating_point():
        bad = ~torch.isclose(value_d, expected_d, atol=atol, rtol=rtol, equal_nan=False)
    else:
        bad = value_d != expected_d
    if bad.any():
        where = tuple(int(i) for i in bad.nonzero()[0])
        at = where if len(where) != 1 else where[0]
        raise Hint(f"{name}: values differ at {int(bad.sum())} of {bad.numel()} positions, "
                   f"first at {at}: expected {_num(expected_d[where])}, "
                   f"got {_num(value_d[where])}")
    return value


def _num(x: torch.Tensor) -> str:
    v = x.item()
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def shape_error_hint(error: Exception, advice: str) -> Hint | None:
    """A :class:`Hint` for PyTorch's shape errors (a failed matrix product, tensors whose
    sizes do not broadcast), quoting the error and adding ``advice``; None for other errors.

    Use it around the call of the student's function::

        except RuntimeError as error:
            hint = shape_error_hint(error, "x_t is [B, E]: multiply by `W.T`")
            if hint:
                raise hint from error
            raise
    """
    text = str(error)
    if any(s in text for s in ("cannot be multiplied", "size mismatch", "must match",
                               "shape mismatch", "not broadcastable")):
        return Hint(f"a shape mismatch ({text.splitlines()[0]}): {advice}")
    return None


def call_with_shape_hint(fn, args, advice: str):
    """``fn(*args)`` with PyTorch's shape errors turned into a hint carrying ``advice``."""
    try:
        return fn(*args)
    except RuntimeError as error:
        hint = shape_error_hint(error, advice)
        if hint:
            raise hint from error
        raise


@torch.no_grad()
def constant_init(module: nn.Module, value: float = 0.1) -> nn.Module:
    """Set every parameter of ``module`` to ``value`` (the same result on every machine)."""
    for p in module.parameters():
        p.fill_(value)
    return module


@torch.no_grad()
def ramp_init(module: nn.Module, scale: float = 0.5) -> nn.Module:
    """Give every parameter distinct, reproducible values: an evenly spaced ramp.

    Unlike :func:`constant_init`, rows and columns differ, so a transposed weight or a
    swapped gate shows; like it, the values are the same on every machine and seed.
    Parameter ``k`` holds ``numel`` values from ``-scale`` to ``scale``, shifted by ``k``
    so that no two parameters are alike.
    """
    for k, p in enumerate(module.parameters()):
        n = p.numel()
        ramp = torch.linspace(-scale, scale, n, dtype=torch.float64) if n > 1 else \
            torch.full((1,), scale / 2, dtype=torch.float64)
        ramp = torch.roll(ramp, shifts=(7 * k) % n) * (1 - 0.05 * (k % 5))
        p.copy_(ramp.reshape(p.shape).to(p.dtype))
    return module
