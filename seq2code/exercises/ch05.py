"""Checks for the exercises of chapter 5 (the three models compared).

- :func:`check_attention_parameters`: the parameter count of ``build_model("attention", ...)``
  by hand;
- :func:`check_tokens_per_second`: training throughput from a timing, counting the target
  tokens that the loss scores;
- :func:`check_exact_match_by_length`: exact match broken down by input-length bucket.
"""

from __future__ import annotations

import numbers

import torch

from seq2code.exercises import Hint, exercise
from seq2code.exercises.ch02 import check_count_formula
from seq2code.metrics import length_buckets
from seq2code.vocab import EOS_ID, PAD_ID

# The first sizes are chosen so that every mistake below changes the count differently.
ATTENTION_CASES = [(11, 17, 5, 6), (13, 19, 6, 10), (60, 60, 128, 256)]


def _attention_mistakes(v_src: int, v_tgt: int, e: int, h: int) -> dict[int, str]:
    """Differences (yours - right) of typical counting mistakes, with their hints."""
    return {
        -4 * h * h: "the decoder's LSTM reads [e(y_{t-1}); c_t], of size E + H: its input "
                    "weights are 4H x (E + H), not 4H x E",
        -h * v_tgt: "the output layer reads [s_t; c_t], of size 2H: its weight is "
                    "2H x V_tgt, not H x V_tgt",
        -(2 * h * h + h): "you left out the attention: W_q and W_k (the library's "
                          "W_t and W_s, H x H each) and v (H)",
        -h * h: "the attention's W = [W_q  W_k] multiplies [s_{t-1}; h_s], of size 2H: it "
                "has 2 H x H weights, you counted one",
        -h: "you left out the attention's vector v (H entries)",
        h: "the attention's layers have no bias (W_t, W_s and v are bias-free)",
        # nn.Linear's default bias=True, for W_t and W_s (H each) and for v (1)
        2 * h + 1: "you gave the attention biases (H for W_t, H for W_s, 1 for v), as "
                   "`nn.Linear` would by default: the course's attention has none, "
                   "v^T tanh(W_q s_{t-1} + W_k h_s) is built with `bias=False`",
        2 * h: "you gave W_t and W_s a bias (H each): the course's attention has none, "
               "v^T tanh(W_q s_{t-1} + W_k h_s) is built with `bias=False`",
        h + 1: "you gave the attention biases (H for W, 1 for v): the course's attention "
               "has none, v^T tanh(W [s_{t-1}; h_s]) is built with `bias=False`",
        1: "you gave the attention's v a bias (1 number): v is a plain vector, "
           "v^T tanh(...) has no bias",
        -8 * h: "PyTorch keeps two bias vectors per LSTM layer, b_ih and b_hh: count both, "
                "in the encoder and in the decoder",
        -v_tgt: "you left out the output layer's bias (V_tgt entries)",
        -(v_src * e): "you left out the English embedding (V_src x E)",
        -(v_tgt * e): "you left out the code embedding (V_tgt x E)",
    }


ATTENTION_ADVICE = ("count the two embeddings, the encoder's LSTM, the decoder's LSTM (input "
                    "[e; c]), the attention (W_q, W_k, v) and the output layer (input [s; c])")


@exercise
def check_attention_parameters(attention_parameters):
    """The formula agrees with count_parameters(build_model("attention", ...))."""
    return check_count_formula(attention_parameters, "attention", ATTENTION_CASES,
                               _attention_mistakes, ATTENTION_ADVICE)


# Three batches of targets, <sos> y_1 .. y_n <eos> <pad>..., of different shapes.
_TARGETS = [
    torch.tensor([[1, 5, 6, 7, 8, 2], [1, 8, 2, 0, 0, 0], [1, 9, 9, 2, 0, 0]]),
    torch.tensor([[1, 4, 2], [1, 2, 0]]),
    torch.tensor([[1, 7, 7, 7, 7, 7, 2, 0], [1, 6, 2, 0, 0, 0, 0, 0]]),
]
_SECONDS = 4.0


def _count(targets, rule) -> int:
    return sum(int(rule(t)) for t in targets)


def _as_number(value, what: str = "your function") -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise Hint(f"{what} should return a number, got {type(value).__name__}")
    return float(value)


@exercise
def check_tokens_per_second(tokens_per_second):
    """Target tokens scored by the loss (y_1 .. <eos>, no padding, no <sos>) per second."""
    targets = [t.clone() for t in _TARGETS]
    got = _as_number(tokens_per_second(targets, _SECONDS))
    scored = _count(targets, lambda t: (t[:, 1:] != PAD_ID).sum())
    right = scored / _SECONDS
    if abs(got - right) < 1e-6 * right:
        return f"{scored} scored tokens in {_SECONDS:g} s: {right:g} target tokens per second"
    mistakes = [
        (_SECONDS / scored, "you divided the seconds by the tokens: throughput is tokens / "
         "seconds"),
        (_count(targets, lambda t: t.numel()) / _SECONDS, "you counted the padding: count "
         "only the positions that are not `<pad>` (id 0)"),
        (_count(targets, lambda t: t[:, 1:].numel()) / _SECONDS, "you counted the padding "
         "of `tgt[:, 1:]`: count only the positions that are not `<pad>` (id 0)"),
        (_count(targets, lambda t: (t != PAD_ID).sum()) / _SECONDS, "you counted `<sos>`: "
         "the loss scores `tgt[:, 1:]`, the tokens y_1 .. <eos> that the decoder predicts"),
        (_count(targets, lambda t: ((t[:, 1:] != PAD_ID) & (t[:, 1:] != EOS_ID)).sum())
         / _SECONDS, "`<eos>` is a target too: the decoder must predict it, and the loss "
         "scores it"),
        (_count(targets, lambda t: t.size(0)) / _SECONDS, "you counted sentences: count the "
         "target tokens of every sentence"),
        (int((targets[-1][:, 1:] != PAD_ID).sum()) / _SECONDS, "you counted only the last "
         "batch: add up the tokens of every batch"),
        (int((targets[0][:, 1:] != PAD_ID).sum()) / _SECONDS, "you counted only the first "
         "batch: add up the tokens of every batch"),
    ]
    for value, hint in mistakes:
        if abs(got - value) < 1e-6 * max(abs(value), 1e-9):
            raise Hint(hint)
    raise Hint(f"expected {right:g} target tokens per second, got {got:g}: count the "
               "positions of `tgt[:, 1:]` that are not `<pad>`, over every batch, and divide "
               "by the seconds")


def _expected_by_length(exact, lengths, buckets) -> list[float]:
    """The library's breakdown (:func:`seq2code.metrics.length_buckets`) of the matches."""
    hyps = [["x"] if hit else ["y"] for hit in exact]
    refs = [["x"] for _ in exact]
    nls = [["w"] * n for n in lengths]
    return [row["exact_match"] for row in length_buckets(hyps, refs, nls, buckets)]


def _by_length(exact, lengths, buckets, *, high_inclusive=True, low_inclusive=True,
               per_total=False, counts=False) -> list[float]:
    """Exact match by bucket; each argument reproduces one typical mistake."""
    shares = []
    for low, high in buckets:
        inside = [hit for hit, n in zip(exact, lengths, strict=True)
                  if (n >= low if low_inclusive else n > low)
                  and (high is None or (n <= high if high_inclusive else n < high))]
        hits = sum(inside)
        if counts:
            shares.append(float(hits))
        elif per_total:
            shares.append(hits / len(exact))
        else:
            shares.append(hits / len(inside) if inside else 0.0)
    return shares


_LENGTH_CASES = [
    # (exact, lengths, buckets): the course's buckets, then one with an empty bucket
    ([True, False, True, True, False, True, False, True, True, False, False, True],
     [1, 3, 5, 6, 8, 10, 11, 15, 20, 21, 25, 33],
     ((1, 5), (6, 10), (11, 20), (21, None))),
    ([True, False, True, True, False],
     [2, 3, 9, 12, 15],
     ((1, 3), (4, 8), (9, None))),
]


@exercise
def check_exact_match_by_length(exact_match_by_length):
    """The share of exact matches in each length bucket, as seq2code.metrics computes it."""
    for exact, lengths, buckets in _LENGTH_CASES:
        try:
            got = exact_match_by_length(list(exact), list(lengths), buckets)
        except ZeroDivisionError as error:
            raise Hint("a bucket with no examples has exact match 0.0: do not divide by its "
                       "size when it is 0") from error
        except TypeError as error:
            if "NoneType" in str(error):
                raise Hint("the last bucket's upper bound is None: it has no upper limit "
                           "(test `high is None or n <= high`)") from error
            raise
        if not isinstance(got, (list, tuple)) or len(got) != len(buckets):
            raise Hint(f"return one share per bucket, a list of {len(buckets)} numbers")
        got = [_as_number(value, "each share") for value in got]
        right = _expected_by_length(exact, lengths, buckets)
        if all(abs(a - b) < 1e-9 for a, b in zip(got, right, strict=True)):
            continue
        mistakes = [
            (_by_length(exact, lengths, buckets, high_inclusive=False), "the upper bound is "
             "inclusive: (6, 10) holds the descriptions of 6 to 10 tokens, 10 included"),
            (_by_length(exact, lengths, buckets, low_inclusive=False), "the lower bound is "
             "inclusive: (6, 10) holds the descriptions of 6 to 10 tokens, 6 included"),
            (_by_length(exact, lengths, buckets, per_total=True), "you divided by the number "
             "of all examples: divide the matches of a bucket by the examples in that bucket"),
            (_by_length(exact, lengths, buckets, counts=True), "you returned the number of "
             "matches: return the share (matches / examples in the bucket)"),
        ]
        for value, hint in mistakes:
            if all(abs(a - b) < 1e-9 for a, b in zip(got, value, strict=True)):
                raise Hint(hint)
        raise Hint(f"for lengths {lengths} and buckets {buckets} the shares are "
                   f"{[round(v, 3) for v in right]}, you returned "
                   f"{[round(v, 3) for v in got]}")
