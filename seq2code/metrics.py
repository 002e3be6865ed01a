"""Evaluation made for code: exact match, BLEU, parse rate, edit distance, by input length.

Every metric takes token lists (the output of :func:`seq2code.tokens.tokenize_code`), one per
example, hypotheses (what the model wrote) first and references (the Django line) second.

- :func:`exact_match`: the share of hypotheses identical to their reference, token for token.
- :func:`exact_match_canonical`: the same after putting the string literals that the English
  also contains behind ``_STR:i_`` placeholders, on both sides, with the same English (the
  TranX convention that the published Django results use).
- :func:`bleu`: corpus BLEU through sacrebleu. Weak on code: it rewards shared n-grams, so
  a line with one wrong operator scores high and a correct line written differently scores low.
- :func:`parse_rate`: the share of lines that Python's parser accepts, after completing a lone
  statement header (``else :``, ``for x in y :``, ``@decorator``) the way TranX does.
- :func:`token_edit_distance`: Levenshtein distance over tokens.
- :func:`length_buckets` and :func:`evaluate_predictions`: everything at once, overall and
  broken down by the length of the English input.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Sequence

import sacrebleu

Tokens = Sequence[str]

#: English input length buckets, in tokens: ``(low, high)`` inclusive, ``None`` = no upper
#: bound. Chosen so that each holds a fair share of the 1,000 dev descriptions
#: (about 235, 270, 315 and 180 of them).
DEFAULT_BUCKETS: tuple[tuple[int, int | None], ...] = ((1, 5), (6, 10), (11, 20), (21, None))


def _check_lengths(*lists: Sequence) -> int:
    """The common length of ``lists``; ``ValueError`` if they differ."""
    lengths = {len(x) for x in lists}
    if len(lengths) > 1:
        raise ValueError(f"lists of different lengths: {[len(x) for x in lists]}")
    return lengths.pop() if lengths else 0


def exact_match(hyps: Sequence[Tokens], refs: Sequence[Tokens]) -> float:
    """Share of hypotheses equal to their reference, token for token (0.0 for no examples)."""
    n = _check_lengths(hyps, refs)
    if n == 0:
        return 0.0
    return sum(list(h) == list(r) for h, r in zip(hyps, refs, strict=True)) / n


def exact_match_canonical(hyps: Sequence[Tokens], refs: Sequence[Tokens],
                          nls: Sequence[Tokens]) -> float:
    """Exact match after TranX's canonicalisation of string literals.

    Both hypothesis and reference go through :func:`seq2code.tokens.canonicalize` with the
    same English tokens, so a string literal that the English also contains becomes the same
    ``_STR:i_`` placeholder on both sides. A literal the English does not contain is left
    as it is: replacing every literal would count a hypothesis that invents a wrong string
    as correct, which flatters the score (by about a point on Django).

    Args:
        hyps: generated code token lists.
        refs: reference code token lists.
        nls: the English token lists the hypotheses were generated from.
    """
    from seq2code.tokens import canonicalize

    n = _check_lengths(hyps, refs, nls)
    if n == 0:
        return 0.0
    hits = 0
    for h, r, nl in zip(hyps, refs, nls, strict=True):
        _, h_canon, _ = canonicalize(list(nl), list(h))
        _, r_canon, _ = canonicalize(list(nl), list(r))
        hits += list(h_canon) == list(r_canon)
    return hits / n


def bleu(hyps: Sequence[Tokens], refs: Sequence[Tokens]) -> float:
    """Corpus BLEU (0-100) of the hypotheses against their references, with sacrebleu.

    Tokens are joined with spaces and sacrebleu's own tokenizer is switched off
    (``tokenize="none"``), so n-grams are n-grams of code tokens. The argument order
    matters: sacrebleu's brevity penalty and clipped counts are taken with respect to the
    references, so ``bleu(hyps, refs) != bleu(refs, hyps)`` in general.

    BLEU is weak on code: a line with a single wrong token (``==`` for ``!=``) keeps a high
    score although it means something else, and a correct line that differs in form scores
    low. Read it beside exact match and parse rate, never alone.
    """
    n = _check_lengths(hyps, refs)
    if n == 0:
        return 0.0
    hyp_strings = [" ".join(h) for h in hyps]
    ref_strings = [" ".join(r) for r in refs]
    # force=True: the lines are tokenized on purpose (code tokens), so sacrebleu's warning
    # that they look tokenized (printed under notebook cells) does not apply.
    return float(sacrebleu.corpus_bleu(hyp_strings, [ref_strings], tokenize="none",
                                       force=True).score)


_OPENS_WITH_IF = re.compile(r"^(elif|else)\b")
_TRY = re.compile(r"^try\b")
_HANDLER = re.compile(r"^(except|finally)\b")


def complete_statement(code: str) -> str:
    """Make a single Django line a complete Python program, the way TranX does.

    Many lines are statement headers whose body (or opening statement) lies on other lines:

    - ``elif ...:`` and ``else:`` get ``if True: pass`` before them;
    - ``try:`` gets ``except: pass`` after its body; ``except ...:`` and ``finally:`` get
      ``try: pass`` before them;
    - a decorator ``@name(...)`` gets a function ``def dummy(): pass`` after it;
    - any line ending in ``:`` gets the body ``pass``.

    A line that is already complete comes back unchanged (leading and trailing blanks
    removed).
    """
    code = code.strip()
    if _OPENS_WITH_IF.match(code):
        code = "if True: pass\n" + code
    if _TRY.match(code):
        code = code + " pass\nexcept: pass"
    elif _HANDLER.match(code):
        code = "try: pass\n" + code
    if code.startswith("@"):
        code = code + "\ndef dummy(): pass"
    if code.endswith(":"):
        code = code + " pass"
    return code


def parses(code: str) -> bool:
    """Whether ``ast.parse`` accepts ``code`` after :func:`complete_statement`."""
    try:
        with warnings.catch_warnings():  # e.g. "invalid escape sequence" in old Django strings
            warnings.simplefilter("ignore")
            ast.parse(complete_statement(code))
    except (SyntaxError, ValueError):  # ValueError: a null byte in the source
        return False
    return True


def parse_rate(codes: Sequence[str]) -> float:
    """Share of code strings (not token lists) that parse after completion (0.0 if none)."""
    if not codes:
        return 0.0
    return sum(parses(c) for c in codes) / len(codes)


def token_edit_distance(a: Tokens, b: Tokens) -> int:
    """Levenshtein distance between two token lists: the fewest token insertions, deletions
    and substitutions that turn ``a`` into ``b``. Symmetric; 0 only for equal lists."""
    a, b = list(a), list(b)
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))  # distances from a[:0] to every prefix of b
    for i, tok_a in enumerate(a, start=1):
        current = [i]
        for j, tok_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1,            # delete tok_a
                               current[j - 1] + 1,         # insert tok_b
                               previous[j - 1] + (tok_a != tok_b)))  # substitute or keep
        previous = current
    return previous[-1]


def mean_edit_distance(hyps: Sequence[Tokens], refs: Sequence[Tokens]) -> float:
    """Mean :func:`token_edit_distance` between hypotheses and references (0.0 if none)."""
    n = _check_lengths(hyps, refs)
    if n == 0:
        return 0.0
    return sum(token_edit_distance(h, r) for h, r in zip(hyps, refs, strict=True)) / n


def _untokenize(tokens: Tokens) -> str:
    from seq2code.tokens import untokenize_code

    return untokenize_code(list(tokens))


def _overall(hyps: Sequence[Tokens], refs: Sequence[Tokens], nls: Sequence[Tokens]) -> dict:
    """Every metric on one set of examples."""
    return {
        "n": len(hyps),
        "exact_match": exact_match(hyps, refs),
        "exact_match_canonical": exact_match_canonical(hyps, refs, nls),
        "bleu": bleu(hyps, refs),
        "parse_rate": parse_rate([_untokenize(h) for h in hyps]),
        "edit_distance": mean_edit_distance(hyps, refs),
    }


def bucket_label(low: int, high: int | None) -> str:
    """``"1-5"`` or, without an upper bound, ``"21+"``."""
    return f"{low}+" if high is None else f"{low}-{high}"


def length_buckets(hyp_tokens: Sequence[Tokens], ref_tokens: Sequence[Tokens],
                   nl_tokens: Sequence[Tokens],
                   buckets: Sequence[tuple[int, int | None]] = DEFAULT_BUCKETS) -> list[dict]:
    """Every metric, broken down by the length of the English input.

    Returns one dict per bucket, in order: ``bucket`` (label such as ``"6-10"``), ``low``,
    ``high`` (``None`` for the open last bucket) and the metrics of :func:`evaluate_predictions`
    on the examples whose English has between ``low`` and ``high`` tokens. An empty bucket
    has ``n == 0`` and zero metrics. An English input of 0 tokens falls in the first bucket.
    """
    _check_lengths(hyp_tokens, ref_tokens, nl_tokens)
    rows = []
    for k, (low, high) in enumerate(buckets):
        first = k == 0
        idx = [i for i, nl in enumerate(nl_tokens)
               if (len(nl) >= low or first) and (high is None or len(nl) <= high)]
        row = {"bucket": bucket_label(low, high), "low": low, "high": high}
        row.update(_overall([hyp_tokens[i] for i in idx], [ref_tokens[i] for i in idx],
                            [nl_tokens[i] for i in idx]))
        rows.append(row)
    return rows


def evaluate_predictions(hyp_tokens: Sequence[Tokens], ref_tokens: Sequence[Tokens],
                         nl_tokens: Sequence[Tokens],
                         buckets: Sequence[tuple[int, int | None]] = DEFAULT_BUCKETS) -> dict:
    """All the course's metrics on one set of predictions.

    Args:
        hyp_tokens: generated code, one token list per example.
        ref_tokens: reference code, one token list per example.
        nl_tokens: the English input, one token list per example.
        buckets: English length buckets for ``by_length``.

    Returns:
        ``{"n", "exact_match", "exact_match_canonical", "bleu", "parse_rate",
        "edit_distance", "by_length"}``: shares in ``[0, 1]``, BLEU in ``[0, 100]``, mean
        token edit distance, and ``by_length`` the list of :func:`length_buckets`.
    """
    _check_lengths(hyp_tokens, ref_tokens, nl_tokens)
    result = _overall(hyp_tokens, ref_tokens, nl_tokens)
    result["by_length"] = length_buckets(hyp_tokens, ref_tokens, nl_tokens, buckets)
    return result
