"""Checks for the exercises of chapter 1 (the task and the data).

- :func:`check_shift_by_one`: the decoder's input and target from a padded batch;
- :func:`check_lengths_to_mask`: the padding mask from the lengths;
- :func:`check_build_vocab`: a vocabulary with ``min_freq`` and the four special tokens.

It also holds :func:`watching`, with which a check notices that the answer called a library
function that its exercise asks the student to write (chapters 1, 3 and 4 use it).
"""

from __future__ import annotations

import inspect
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from seq2code.exercises import Hint, exercise, expect_close, expect_tensor
from seq2code.vocab import SPECIALS, Vocab

# <sos>=1, <eos>=2, <pad>=0; three code lines of lengths 5, 3 and 4 (framing included)
_TGT = torch.tensor([[1, 7, 8, 9, 2],
                     [1, 5, 2, 0, 0],
                     [1, 6, 6, 2, 0]])  # [B=3, T=5]


@exercise
def check_shift_by_one(shift_by_one):
    """`tgt_in` drops the last position, `tgt_out` the first: at step t the decoder reads
    y(t-1) and predicts y(t)."""
    result = shift_by_one(_TGT.clone())
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Hint("return two tensors: `return tgt_in, tgt_out`")
    tgt_in, tgt_out = (expect_tensor(t, n) for t, n in zip(result, ("tgt_in", "tgt_out"),
                                                             strict=True))
    good_in, good_out = _TGT[:, :-1], _TGT[:, 1:]
    if torch.equal(tgt_in, good_out) and torch.equal(tgt_out, good_in):
        raise Hint("tgt_in and tgt_out are swapped: the decoder reads `<sos> y1 ... yn` "
                   "(tgt_in starts with <sos>) and predicts `y1 ... yn <eos>`")
    for value, name in ((tgt_in, "tgt_in"), (tgt_out, "tgt_out")):
        if value.shape == (2, 5):
            raise Hint(f"{name} has 2 rows instead of 3: you cut along the batch axis "
                       "(dim 0); cut along the positions (dim 1), e.g. `tgt[:, :-1]`")
        if value.shape == (3, 5):
            raise Hint(f"{name} has all 5 positions: it must be one shorter than tgt "
                       f"({'drop the last position' if name == 'tgt_in' else 'drop <sos>'})")
    if torch.equal(tgt_in, good_out):
        raise Hint("tgt_in must start with <sos>: it is tgt without its last position")
    if torch.equal(tgt_out, good_in):
        raise Hint("tgt_out must not start with <sos> (nothing predicts it): it is tgt "
                   "without its first position")
    expect_close(tgt_in, good_in, "tgt_in", mistakes=[
        (_TGT[:, :-2], "tgt_in is two positions short: drop only the last position")])
    expect_close(tgt_out, good_out, "tgt_out", mistakes=[
        (_TGT[:, 2:], "tgt_out is two positions short: drop only the first position (<sos>)")])


@exercise
def check_lengths_to_mask(lengths_to_mask):
    """The mask is True at the first `length` positions of each row and False at padding."""
    lengths = torch.tensor([3, 1, 5, 2])
    max_len = 6  # longer than every row: the batch may be padded further than its longest
    positions = torch.arange(max_len)
    good = positions[None, :] < lengths[:, None]  # [B, S]
    result = lengths_to_mask(lengths.clone(), max_len)
    expect_close(result, good, "your mask", mistakes=[
        (~good, "your mask is inverted: it must be True at real tokens and False at padding"),
        (positions[None, :] <= lengths[:, None], "off by one: a row of length 3 has real "
         "tokens at positions 0, 1, 2 only (use `<`, not `<=`)"),
        (good.T, "your mask is transposed: it must be [batch, max_len], one row per example"),
        (good[:, :5], "your mask has 5 columns: it must have `max_len` (6) columns, even "
         "when every row is shorter"),
    ])
    one = lengths_to_mask(torch.tensor([2]), 2)
    expect_close(one, torch.tensor([[True, True]]), "the mask for lengths [2], max_len 2")


@contextmanager
def watching(*functions) -> Iterator[list]:
    """Record which of ``functions`` run inside the ``with`` block, however they are reached.

    ``functions`` are Python functions or methods (recognised by their code object, so a
    name bound before the block, ``from seq2code.models import masked_softmax``, is caught
    too) or built-in functions such as ``torch.lstm_cell``. The block yields a list that
    collects each one called. While another profiler is installed (``sys.getprofile()``),
    nothing is recorded rather than replacing it.
    """
    codes, builtins = {}, {}
    for function in functions:
        plain = inspect.unwrap(getattr(function, "__func__", function))
        code = getattr(plain, "__code__", None)
        if code is not None:
            codes[code] = function
        else:
            builtins[id(plain)] = function
    seen: list = []
    previous = sys.getprofile()
    if previous is not None:
        yield seen
        return

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            seen.append(codes[frame.f_code])
        elif event == "c_call" and id(arg) in builtins:
            seen.append(builtins[id(arg)])

    sys.setprofile(profile)
    try:
        yield seen
    finally:
        sys.setprofile(previous)


def _reference_itos(token_lists, min_freq: int) -> list[str]:
    return Vocab.build(token_lists, min_freq=min_freq).itos


_LINES = [["x", "=", "1"], ["y", "=", "x"], ["return", "x"], ["z", "=", "y"],
          ["return", "y", "+", "q"], ["a", "=", "b"]]
# counts: x 3, = 4, y 3, return 2, 1 1, z 1, + 1, q 1, a 1, b 1


@exercise
def check_build_vocab(build_vocab):
    """The specials first, then every token seen `min_freq` times or more, most frequent
    first, ties in alphabetical order."""
    for min_freq in (2, 1):
        with watching(Vocab.build) as called:
            itos = build_vocab([list(line) for line in _LINES], min_freq)
        if called:
            raise Hint("your function calls the library's `Vocab.build`: this exercise asks "
                       "you to write it by hand (count the tokens, keep the frequent ones, "
                       "sort them) without `Vocab`")
        good = _reference_itos(_LINES, min_freq)
        if not isinstance(itos, (list, tuple)) or not all(isinstance(t, str) for t in itos):
            raise Hint("return the vocabulary as a list of token strings, id i at position i")
        itos = list(itos)
        if itos == good:
            continue
        counts = Counter(t for line in _LINES for t in line)
        if tuple(itos[:4]) != SPECIALS:
            raise Hint(f"the first four entries must be {list(SPECIALS)} (ids 0 to 3), "
                       f"got {itos[:4]}")
        if len(set(itos)) != len(itos):
            raise Hint("a token appears twice in your vocabulary")
        kept, expected = set(itos[4:]), set(good[4:])
        missing = sorted(expected - kept)
        extra = sorted(kept - expected)
        if missing:
            token = missing[0]
            if counts[token] == min_freq:
                raise Hint(f"{token!r} is seen exactly min_freq={min_freq} times and must be "
                           "kept: use `count >= min_freq`")
            raise Hint(f"{token!r} (seen {counts[token]} times) is missing with "
                       f"min_freq={min_freq}")
        if extra:
            token = extra[0]
            raise Hint(f"{token!r} is seen only {counts[token]} time(s), fewer than "
                       f"min_freq={min_freq}: leave it to <unk>")
        by_count = [counts[t] for t in itos[4:]]
        if by_count != sorted(by_count, reverse=True):
            raise Hint("order the tokens most frequent first (id 4 is the most frequent "
                       "token), e.g. `sorted(tokens, key=lambda t: (-count[t], t))`")
        raise Hint("break ties between equally frequent tokens alphabetically "
                   f"(expected {good[4:]}, got {itos[4:]})")
