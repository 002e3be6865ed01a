"""Chapter 1's exercise checks: the notebook's solutions pass, typical mistakes get their hint."""

from collections import Counter

import pytest
import torch
from test_exercises import notebook_solution, run_quietly

from seq2code.exercises import CORRECT, NOT_ATTEMPTED, WRONG
from seq2code.exercises.ch01 import check_build_vocab, check_lengths_to_mask, check_shift_by_one
from seq2code.vocab import Vocab

CHAPTER = "01_task_and_data"


def verdict(check, answer):
    return run_quietly(check, answer)[0]


@pytest.mark.parametrize(("check", "name"), [
    (check_shift_by_one, "shift_by_one"),
    (check_lengths_to_mask, "lengths_to_mask"),
    (check_build_vocab, "build_vocab"),
])
def test_the_notebooks_solution_passes(check, name):
    assert verdict(check, notebook_solution(CHAPTER, name)).status == CORRECT


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check", [check_shift_by_one, check_lengths_to_mask,
                                   check_build_vocab])
def test_the_stub_is_not_attempted(check):
    assert verdict(check, stub).status == NOT_ATTEMPTED


SHIFT_MISTAKES = [
    (lambda t: (t[:, 1:], t[:, :-1]), "swapped"),
    (lambda t: (t[:-1], t[1:]), "batch axis"),
    (lambda t: (t, t[:, 1:]), "tgt_in has all 5 positions"),
    (lambda t: (t[:, :-1], t), "tgt_out has all 5 positions"),
    (lambda t: (t[:, 1:], t[:, 1:]), "tgt_in must start with <sos>"),
    (lambda t: (t[:, :-1], t[:, :-1]), "tgt_out must not start with <sos>"),
    (lambda t: (t[:, :-2], t[:, 1:]), "tgt_in is two positions short"),
    (lambda t: (t[:, :-1], t[:, 2:]), "tgt_out is two positions short"),
    (lambda t: t[:, :-1], "return two tensors"),
    (lambda t: (t[:, :-1].tolist(), t[:, 1:]), "tgt_in should be a torch.Tensor"),
]


@pytest.mark.parametrize(("answer", "hint"), SHIFT_MISTAKES)
def test_shift_by_one_mistakes(answer, hint):
    feedback = verdict(check_shift_by_one, answer)
    assert feedback.status == WRONG and hint in feedback.message, feedback.message


def arange(n):
    return torch.arange(n)


MASK_MISTAKES = [
    (lambda lens, n: arange(n)[None, :] >= lens[:, None], "inverted"),
    (lambda lens, n: arange(n)[None, :] <= lens[:, None], "off by one"),
    (lambda lens, n: arange(n)[:, None] < lens[None, :], "transposed"),
    (lambda lens, n: arange(int(lens.max()))[None, :] < lens[:, None], "`max_len` (6) columns"),
    (lambda lens, n: (arange(n)[None, :] < lens[:, None]).long(), "bool tensor"),
    (lambda lens, n: arange(n)[None, :] < lens, "RuntimeError"),
]


@pytest.mark.parametrize(("answer", "hint"), MASK_MISTAKES)
def test_lengths_to_mask_mistakes(answer, hint):
    feedback = verdict(check_lengths_to_mask, answer)
    assert feedback.status == WRONG and hint in feedback.message, feedback.message


SPECIALS = ["<pad>", "<sos>", "<eos>", "<unk>"]


def vocab_with(keep, order, specials=SPECIALS):
    def build_vocab(token_lists, min_freq):
        counts = Counter(t for tokens in token_lists for t in tokens)
        kept = [t for t, c in counts.items() if keep(c, min_freq)]
        return list(specials) + sorted(kept, key=lambda t: order(t, counts))
    return build_vocab


def by_count(t, counts):
    return (-counts[t], t)


VOCAB_MISTAKES = [
    (vocab_with(lambda c, m: c > m, by_count), "use `count >= min_freq`"),
    (vocab_with(lambda c, m: True, by_count), "fewer than min_freq=2"),
    (vocab_with(lambda c, m: c >= m, by_count, specials=[]), "the first four entries"),
    (vocab_with(lambda c, m: c >= m, by_count, specials=["<unk>", "<pad>", "<sos>", "<eos>"]),
     "the first four entries"),
    (vocab_with(lambda c, m: c >= m, lambda t, counts: t), "most frequent first"),
    (vocab_with(lambda c, m: c >= m, lambda t, counts: -counts[t]),  # ties: first seen first
     "ties between equally frequent tokens alphabetically"),
    (vocab_with(lambda c, m: c >= m, lambda t, counts: (counts[t], t)), "most frequent first"),
    (lambda lists, m: {t: i for i, t in enumerate(SPECIALS)}, "list of token strings"),
]

BUILD = Vocab.build  # bound before the check runs, as `from ... import` would


@pytest.mark.parametrize("answer", [
    lambda lists, m: Vocab.build(lists, min_freq=m).itos,
    lambda lists, m: list(BUILD(lists, m).itos),
    lambda lists, m: Vocab.build(lists, min_freq=m),
], ids=["Vocab.build", "bound-before", "returns-the-Vocab"])
def test_build_vocab_may_not_delegate_to_the_library(answer):
    feedback = verdict(check_build_vocab, answer)
    assert feedback.status == WRONG, feedback.message
    assert "calls the library's `Vocab.build`" in feedback.message
    assert "by hand" in feedback.message


@pytest.mark.parametrize(("answer", "hint"), VOCAB_MISTAKES)
def test_build_vocab_mistakes(answer, hint):
    feedback = verdict(check_build_vocab, answer)
    assert feedback.status == WRONG and hint in feedback.message, feedback.message
