"""Every metric on hand-made cases, and every Django reference line parses after completion."""

import math

import pytest

from seq2code.metrics import (
    DEFAULT_BUCKETS,
    bleu,
    complete_statement,
    evaluate_predictions,
    exact_match,
    exact_match_canonical,
    length_buckets,
    mean_edit_distance,
    parse_rate,
    parses,
    token_edit_distance,
)
from seq2code.tokens import tokenize_code, tokenize_nl, untokenize_code


@pytest.fixture(scope="module")
def django_splits(shared_data):
    """The three Django splits, from ``$SEQ2CODE_DATA`` (``shared_data`` in tests/conftest.py)."""
    from seq2code.data import load_django

    return load_django(shared_data)


# --- exact match ------------------------------------------------------------------------


def test_exact_match_counts_identical_token_lists():
    refs = [["x", "=", "1"], ["return", "y"], ["pass"], ["a", "(", ")"]]
    hyps = [["x", "=", "1"], ["return", "x"], ["pass"], ["a", "(", ")", ")"]]
    assert exact_match(hyps, refs) == 0.5
    assert exact_match(refs, refs) == 1.0
    assert exact_match([], []) == 0.0


def test_exact_match_rejects_lists_of_different_lengths():
    with pytest.raises(ValueError):
        exact_match([["a"]], [["a"], ["b"]])


def test_canonical_exact_match_ignores_the_string_the_english_names():
    nl = tokenize_nl("call the function get with an argument string 'name'.")
    ref = tokenize_code("get('name')")
    assert exact_match_canonical([ref], [ref], [nl]) == 1.0
    wrong_call = tokenize_code("put('name')")
    assert exact_match_canonical([wrong_call], [ref], [nl]) == 0.0


def test_canonical_exact_match_keeps_literals_the_english_does_not_contain():
    # Neither 'spam' nor 'eggs' is in the English: they stay literals, so a hypothesis with
    # the wrong string is wrong. Replacing every literal would call it right.
    nl = tokenize_nl("call the function get with a string argument.")
    ref = tokenize_code("get('spam')")
    hyp = tokenize_code("get('eggs')")
    assert exact_match_canonical([hyp], [ref], [nl]) == 0.0
    assert exact_match_canonical([ref], [ref], [nl]) == 1.0


# --- BLEU ---------------------------------------------------------------------------------


def test_bleu_of_identical_corpus_is_100():
    refs = [["if", "x", "is", "None", ":"], ["return", "self", ".", "value", "+", "1"]]
    assert bleu(refs, refs) == pytest.approx(100.0)


def test_bleu_argument_order_matters():
    short = [["a", "b", "c", "d", "e"]]
    long = [["a", "b", "c", "d", "e", "f", "g", "h"]]
    # hypothesis shorter than its reference: every n-gram matches, the brevity penalty
    # exp(1 - 8/5) applies
    assert bleu(short, long) == pytest.approx(100 * math.exp(1 - 8 / 5))
    # swapped: no brevity penalty, but precisions 5/8, 4/7, 3/6, 2/5
    swapped = 100 * (5 / 8 * 4 / 7 * 3 / 6 * 2 / 5) ** 0.25
    assert bleu(long, short) == pytest.approx(swapped)
    assert bleu(short, long) != pytest.approx(bleu(long, short))


def test_bleu_is_zero_without_shared_tokens():
    assert bleu([["x", "=", "1", "+", "2"]], [["return", "foo", "(", "bar", ")"]]) == 0.0


# --- parse rate ---------------------------------------------------------------------------


@pytest.mark.parametrize("line", [
    "else :", "elif x > 1 :", "try :", "except ValueError as e :", "except :", "finally :",
    "for x in y :", "while True :", "with open ( f ) as fh :", "def f ( self , x ) :",
    "class A ( object ) :", "if a and b :", "@ property", "@ register . filter ( is_safe = True )",
    "return x", "x = 1", "yield x", "break",
])
def test_statement_headers_parse_after_completion(line):
    assert parses(line), complete_statement(line)


@pytest.mark.parametrize("line", ["x = = 1", "def f (", "else", "if x", "return )", ""])
def test_broken_lines_do_not_parse(line):
    if line == "":
        # the empty program parses: an empty prediction is caught by exact match instead
        assert parses(line)
    else:
        assert not parses(line)


def test_complete_statement_leaves_a_complete_line_alone():
    assert complete_statement("  x = f ( 1 )  ") == "x = f ( 1 )"
    assert complete_statement("else:") == "if True: pass\nelse: pass"


def test_parse_rate_is_the_share_that_parses():
    assert parse_rate(["x = 1", "x = = 1", "else :", "def ("]) == 0.5
    assert parse_rate([]) == 0.0


def test_every_django_reference_line_parses_after_completion(django_splits):
    lines = [ex.code for split in ("train", "dev", "test") for ex in django_splits[split]]
    assert len(lines) == 18805
    failures = [line for line in lines if not parses(untokenize_code(tokenize_code(line)))]
    assert failures == []


# --- edit distance ------------------------------------------------------------------------


def test_token_edit_distance_on_hand_made_cases():
    assert token_edit_distance([], []) == 0
    assert token_edit_distance(["a", "b"], ["a", "b"]) == 0
    assert token_edit_distance(["a", "b", "c"], []) == 3
    assert token_edit_distance(["a", "b", "c"], ["a", "x", "c"]) == 1  # one substitution
    assert token_edit_distance(["a", "b", "c"], ["a", "c"]) == 1  # one deletion
    assert token_edit_distance(["k", "i", "t", "t", "e", "n"],
                               ["s", "i", "t", "t", "i", "n", "g"]) == 3
    assert token_edit_distance(["x", "y"], ["y", "x"]) == 2  # no transpositions
    assert token_edit_distance(["a"], ["b", "a", "c"]) == token_edit_distance(["b", "a", "c"],
                                                                              ["a"]) == 2


def test_mean_edit_distance():
    assert mean_edit_distance([["a"], ["a", "b"]], [["a"], ["c"]]) == 1.0
    assert mean_edit_distance([], []) == 0.0


# --- by length and all together -----------------------------------------------------------


def _toy():
    nls = [["w"] * 3, ["w"] * 8, ["w"] * 9, ["w"] * 15, ["w"] * 40]
    refs = [["x", "=", "1"], ["return", "y"], ["pass"], ["else", ":"], ["break"]]
    hyps = [["x", "=", "1"], ["return", "z"], ["pass"], ["else", ":", ":"], ["continue"]]
    return hyps, refs, nls


def test_length_buckets_split_examples_by_english_length():
    hyps, refs, nls = _toy()
    rows = length_buckets(hyps, refs, nls)
    assert [r["bucket"] for r in rows] == ["1-5", "6-10", "11-20", "21+"]
    assert [r["n"] for r in rows] == [1, 2, 1, 1]
    assert [r["exact_match"] for r in rows] == [1.0, 0.5, 0.0, 0.0]
    assert rows[2]["parse_rate"] == 0.0  # "else : :" does not parse
    assert sum(r["n"] for r in rows) == len(hyps)


def test_empty_bucket_has_zero_examples():
    rows = length_buckets([["a"]], [["a"]], [["w"] * 3], buckets=((1, 5), (6, None)))
    assert rows[1]["n"] == 0 and rows[1]["exact_match"] == 0.0


def test_evaluate_predictions_returns_every_metric():
    hyps, refs, nls = _toy()
    result = evaluate_predictions(hyps, refs, nls)
    assert set(result) == {"n", "exact_match", "exact_match_canonical", "bleu", "parse_rate",
                           "edit_distance", "by_length"}
    assert result["n"] == 5
    assert result["exact_match"] == pytest.approx(2 / 5)
    assert result["exact_match_canonical"] == pytest.approx(2 / 5)
    assert result["parse_rate"] == pytest.approx(4 / 5)
    assert result["edit_distance"] == pytest.approx((0 + 1 + 0 + 1 + 1) / 5)
    assert len(result["by_length"]) == len(DEFAULT_BUCKETS)
    assert 0.0 <= result["bleu"] <= 100.0


def test_bleu_prints_no_tokenization_warning_under_notebook_cells(capfd):
    # sacrebleu warns about lines that end in a tokenized period; code tokens are tokenized
    # on purpose, and the warning used to be printed under the book's cells.
    lines = [["x", "=", "1", "."] for _ in range(150)]
    assert bleu(lines, lines) == pytest.approx(100.0)
    captured = capfd.readouterr()
    assert "detokenize" not in captured.err + captured.out
