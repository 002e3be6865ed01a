"""Tokens for both sides of the task: English descriptions and Python lines.

- :func:`tokenize_nl` splits an English description into words, punctuation and quoted
  strings; a quoted string (``'max_length'``, ``"utf-8"``) stays one token, so that it can
  match the code's string literal token.
- :func:`tokenize_code` uses Python's own :mod:`tokenize` module, so the code tokens are
  exactly those Python sees; :func:`untokenize_code` turns tokens back into source with
  natural spacing (``x = foo(a, b)``), such that tokenizing it again gives the same tokens.
- :func:`canonicalize` / :func:`decanonicalize` put the string literals that the English
  quotes behind placeholders ``_STR:0_``, ``_STR:1_``, ... and back, as TranX does for Django
  (Yin & Neubig 2018), the form in which published Django results are scored.
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import tokenize
import unicodedata
from collections.abc import Sequence

# --- the English side ----------------------------------------------------------------------

_NL_TOKEN = re.compile(r"""
    "[^"\n]*"                       # a double-quoted string, kept whole
  | (?<!\w)'[^'\n]*'(?!\w)          # a single-quoted string (not the apostrophe of don't)
  | \d+(?:\.\d+)+                   # a number such as 0.15 or 127.0.0.1
  | \w+                             # a word or identifier (case kept: names are copied)
  | \S                              # any other character on its own: . , ( ) ' ...
""", re.VERBOSE)


def tokenize_nl(text: str) -> list[str]:
    """Split an English description into tokens.

    Quoted strings stay whole, with their quotes; dotted names are split at the dots
    (``six.text_type`` gives ``six . text_type``, like the code side); everything else is
    words and single punctuation characters. Case is kept, since identifiers in the English
    are copied into the code.

    Control and invisible format characters (``\\x00``, escape sequences, zero-width
    spaces) separate words like a space and are never tokens: a description made only of
    them has no tokens.

    >>> tokenize_nl("call the function six.text_type with string 'utf-8'.")
    ['call', 'the', 'function', 'six', '.', 'text_type', 'with', 'string', "'utf-8'", '.']
    """
    return _NL_TOKEN.findall(_without_control_characters(text))


def _without_control_characters(text: str) -> str:
    """``text`` with every control (Cc) or format (Cf) character replaced by a space."""
    if text.isprintable():  # the common case, checked in C
        return text
    return "".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)


def is_quoted(token: str) -> bool:
    """Whether an English token is a quoted string such as ``'utf-8'``."""
    return len(token) >= 2 and token[0] in "'\"" and token[-1] == token[0]


# --- the code side -------------------------------------------------------------------------

_DROPPED = {tokenize.ENCODING, tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER, tokenize.COMMENT}
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python 3.12+
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)

# The fallback for a line that Python's tokenizer rejects: the same token classes by regular
# expression, a string running to the end of the line when its closing quote is missing.
_OPERATORS = sorted(tokenize.EXACT_TOKEN_TYPES, key=len, reverse=True)
_FALLBACK_TOKEN = re.compile(
    r"(?:[rRbBuUfF]{0,2})(?:'''.*?'''|\"\"\".*?\"\"\"|'''.*|\"\"\".*"
    r"|'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"|'.*|\".*)"       # strings, closed or not
    r"|\d[\w.]*|\.\d[\w]*"                                      # numbers
    r"|\w+"                                                     # names and keywords
    r"|" + "|".join(re.escape(op) for op in _OPERATORS) +       # operators, longest first
    r"|\S",                                                     # anything else, alone
    re.DOTALL)


class CodeTokenError(ValueError):
    """Python's tokenizer rejected a line (raised by ``tokenize_code(line, strict=True)``)."""


def _python_tokens(line: str) -> list[str]:
    """The tokens of ``line`` by :mod:`tokenize`; raises :class:`CodeTokenError` on a line
    that Python cannot tokenize."""
    tokens: list[str] = []
    fstring_depth, fstring_start = 0, 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line).readline):
            if tok.type == tokenize.ERRORTOKEN and tok.string.strip():
                raise CodeTokenError(f"cannot tokenize {tok.string!r} in {line!r}")
            if tok.type == _FSTRING_START:  # 3.12+ splits f-strings: keep them one token,
                fstring_depth += 1          # as Python 3.11 and earlier do
                if fstring_depth == 1:
                    fstring_start = tok.start
            elif tok.type == _FSTRING_END:
                fstring_depth -= 1
                if fstring_depth == 0:
                    tokens.append(_slice(line, fstring_start, tok.end))
            elif fstring_depth == 0 and tok.type not in _DROPPED and tok.string.strip():
                tokens.append(tok.string)
    except (tokenize.TokenError, SyntaxError) as error:  # IndentationError is a SyntaxError
        raise CodeTokenError(f"cannot tokenize {line!r}: {error}") from None
    return tokens


def _slice(text: str, start: tuple[int, int], end: tuple[int, int]) -> str:
    """The text between two ``(row, col)`` positions of :mod:`tokenize` (rows from 1)."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for row in lines:
        offsets.append(offsets[-1] + len(row))
    return text[offsets[start[0] - 1] + start[1]:offsets[end[0] - 1] + end[1]]


def tokenize_code(line: str, *, strict: bool = False) -> list[str]:
    """The Python tokens of one line of code, by Python's own :mod:`tokenize`.

    Layout tokens (``NEWLINE``, ``NL``, ``INDENT``, ``DEDENT``, ``ENDMARKER``, ``ENCODING``)
    and comments are dropped; a string literal, f-strings included, is one token.

    A line that :mod:`tokenize` rejects (for example a triple-quoted string that is not closed
    on the line, or a stray ``$``) is split by a regular expression with the same token classes
    instead, an unclosed string running to the end of the line. No line of the Django data
    needs this fallback (the chapter counts them); generated code may.

    Args:
        line: one line of Python (a statement, or a header such as ``else :``).
        strict: raise :class:`CodeTokenError` instead of using the fallback.

    >>> tokenize_code("x = foo ( a , 'b c' )")
    ['x', '=', 'foo', '(', 'a', ',', "'b c'", ')']
    """
    try:
        return _python_tokens(line.strip())
    except CodeTokenError:
        if strict:
            raise
        return _FALLBACK_TOKEN.findall(line.strip())


def needs_fallback(line: str) -> bool:
    """Whether :func:`tokenize_code` has to use its fallback for ``line``."""
    try:
        _python_tokens(line.strip())
    except CodeTokenError:
        return True
    return False


TOKEN_KINDS = ("name", "keyword", "string", "number", "operator")


def code_token_kind(token: str) -> str:
    """The class of a code token: ``"name"``, ``"keyword"``, ``"string"``, ``"number"`` or
    ``"operator"`` (punctuation included). ``True``, ``False`` and ``None`` are keywords.

    >>> [code_token_kind(t) for t in ["self", "if", "u'x'", "1.5", "+="]]
    ['name', 'keyword', 'string', 'number', 'operator']
    """
    if _is_string_token(token):
        return "string"
    if keyword.iskeyword(token):
        return "keyword"
    if token.isidentifier():
        return "name"
    if token[:1].isdigit() or token[:1] == "." and token[1:2].isdigit():
        return "number"
    return "operator"


_OPENING, _CLOSING = "([{", ")]}"
_UNARY_OPS = {"-", "+", "~", "*", "**"}
_VALUE_KEYWORDS = {"True", "False", "None"}


def _is_word(token: str) -> bool:
    """Names, keywords, numbers and strings: tokens that need a space between them."""
    return token[0].isalnum() or token[0] in "_'\"" or token[0] == "." and token[1:2].isdigit()


def _is_keyword(token: str) -> bool:
    return keyword.iskeyword(token) and token not in _VALUE_KEYWORDS


def _is_value_end(token: str) -> bool:
    """Whether ``token`` can end an operand (so a following ``-`` is binary)."""
    return (_is_word(token) and not _is_keyword(token)) or token in _CLOSING


def untokenize_code(tokens: Sequence[str]) -> str:
    """Turn code tokens back into one line of Python source, with natural spacing.

    Spaces go around binary operators and ``=`` (but not around a keyword argument's ``=``
    inside brackets), after commas and colons (not inside a subscript), between names; none
    inside brackets, around dots, before calls and subscripts, or after unary operators.

    The guarantee, tested on every line of Django:
    ``tokenize_code(untokenize_code(tokenize_code(line))) == tokenize_code(line)``.

    >>> untokenize_code(['x', '=', 'foo', '(', 'a', ',', 'b', '=', '-', '1', ')'])
    'x = foo(a, b=-1)'
    """
    out: list[str] = []
    brackets: list[str] = []  # the open brackets around the current token
    prev: str | None = None
    prev_unary = False  # was the previous token a unary operator (or a decorator's @)?
    for tok in tokens:
        unary = tok in _UNARY_OPS and (prev is None or not _is_value_end(prev)) or (
            tok == "@" and prev is None)
        if prev is not None and _space_between(prev, tok, brackets, prev_unary, unary):
            out.append(" ")
        out.append(tok)
        if tok in _OPENING:
            brackets.append(tok)
        elif tok in _CLOSING and brackets:
            brackets.pop()
        prev, prev_unary = tok, unary
    return "".join(out)


def _space_between(prev: str, tok: str, brackets: list[str], prev_unary: bool,
                   unary: bool) -> bool:
    """Whether a space separates ``prev`` and ``tok`` in :func:`untokenize_code`."""
    inside = brackets[-1] if brackets else None
    # Spaces that keep the tokens apart: two words, a number before a dot (``1 .real``, not
    # the float ``1.``), a dot before a digit (``. 5``, not ``.5``), operators that would fuse.
    if _is_word(prev) and _is_word(tok):
        return True
    if prev[-1].isdigit() and tok.startswith(".") or prev.endswith(".") and tok[:1].isdigit():
        return True
    if not _is_word(prev) and not _is_word(tok) and _fuses(prev, tok):
        return True
    # Natural spacing.
    if tok in _CLOSING or tok in (",", ";") or prev in _OPENING:
        return False
    if tok == ":":
        return False
    if prev == ":":
        return inside != "["  # a slice x[1:2] stays tight; a dict {'a': 1} or lambda does not
    if tok == "." or prev == ".":
        return _is_keyword(prev) or _is_keyword(tok)  # from . import x
    if prev in (",", ";"):
        return True
    if prev_unary:
        return False
    if tok == "=" or prev == "=":
        return inside != "("  # keyword arguments and defaults: f(a, b=1)
    if tok in "([":
        return not _is_value_end(prev)  # a call or subscript f(x), x[0] stays tight
    if unary:
        return True  # the space before a unary operator: x = -1, return -1
    return True  # binary operators and everything else


_OPERATOR_SET = set(tokenize.EXACT_TOKEN_TYPES) | {"<>", "..."}


def _fuses(prev: str, tok: str) -> bool:
    """Whether two operator tokens written together would read as another operator."""
    joined = prev + tok
    return any(joined[i:j] in _OPERATOR_SET and (i < len(prev) < j)
               for i in range(len(prev)) for j in range(len(prev) + 1, len(joined) + 1)) or (
        prev.endswith(".") and tok.startswith("."))


# --- canonical form: string literals behind placeholders ------------------------------------

_PLACEHOLDER = "_STR:{}_"
_SKIPPED_STRINGS = {"%s"}  # TranX leaves '%s' in place: it names a format, not a value


def _nl_string_value(token: str) -> str:
    return token[1:-1]


def _code_string_values(token: str) -> set[str]:
    """The ways a code string literal can be written in English: its body between the quotes
    (``\\n`` as two characters) and its value (``\\n`` as a newline)."""
    match = re.match(r"^[rRbBuUfF]*('''|\"\"\"|'|\")(.*)\1$", token, re.DOTALL)
    if not match:
        return set()
    values = {match.group(2)}
    try:
        value = ast.literal_eval(token)
    except (ValueError, SyntaxError):
        return values
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        values.add(value)
    return values


def _is_string_token(token: str) -> bool:
    return bool(re.match(r"^[rRbBuUfF]*['\"]", token))


def canonicalize(nl_tokens: Sequence[str], code_tokens: Sequence[str]
                 ) -> tuple[list[str], list[str], dict[str, str]]:
    """Put the string literals that the English quotes behind placeholders, TranX style.

    Each distinct quoted string of the English, in order of first appearance, gets a
    placeholder ``_STR:0_``, ``_STR:1_``, ... (TranX leaves ``'%s'`` alone). The English side
    replaces every such quoted string, so it does not depend on the code (a model reads the
    same canonical English at training and at test time). On the code side, a string literal
    becomes the placeholder only when its value is one the English quotes (quote style and
    ``u``/``r``/``b`` prefixes do not matter); literals the English does not contain stay as
    they are, since replacing them would let a model that invents a wrong string count as
    right. The numbering depends on the English alone, so a hypothesis and its reference,
    canonicalized with the same English, use the same placeholders.

    Published exact-match results on Django compare code in this form.

    Args:
        nl_tokens: the English tokens (:func:`tokenize_nl`).
        code_tokens: the code tokens (:func:`tokenize_code`).

    Returns:
        ``(nl_tokens, code_tokens, mapping)``: the canonical token lists and
        ``{placeholder: literal}``, the literal being the code's own token when the code used
        the string, else the English quoted string (a valid Python literal too).

    >>> canonicalize(["open", "'r'", "file"], ["open", "(", "f", ",", '"r"', ")"])
    (['open', '_STR:0_', 'file'], ['open', '(', 'f', ',', '_STR:0_', ')'], {'_STR:0_': '"r"'})
    """
    by_value: dict[str, str] = {}  # English string value -> placeholder
    mapping: dict[str, str] = {}
    nl_out = []
    for tok in nl_tokens:
        if is_quoted(tok) and _nl_string_value(tok) not in _SKIPPED_STRINGS:
            value = _nl_string_value(tok)
            if value not in by_value:
                by_value[value] = _PLACEHOLDER.format(len(by_value))
                mapping[by_value[value]] = tok
            nl_out.append(by_value[value])
        else:
            nl_out.append(tok)
    code_out = []
    used: set[str] = set()
    for tok in code_tokens:
        placeholder = None
        if _is_string_token(tok):
            placeholder = next((by_value[v] for v in sorted(_code_string_values(tok))
                                if v in by_value), None)
        if placeholder is None:
            code_out.append(tok)
            continue
        if placeholder not in used:  # the code's own spelling of the literal wins
            mapping[placeholder] = tok
            used.add(placeholder)
        code_out.append(placeholder)
    return nl_out, code_out, mapping


def decanonicalize(code_tokens: Sequence[str], mapping: dict[str, str]) -> list[str]:
    """Put the literals back: each placeholder of ``mapping`` becomes its literal.

    A placeholder that ``mapping`` does not hold (a model may generate one the English lacks)
    is left as it is.
    """
    return [mapping.get(tok, tok) for tok in code_tokens]
