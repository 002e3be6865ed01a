"""Tokenizers, the untokenize round trip on every Django line, and the canonical form."""

from __future__ import annotations

import os

import pytest

from seq2code.tokens import (
    CodeTokenError,
    canonicalize,
    code_token_kind,
    decanonicalize,
    needs_fallback,
    tokenize_code,
    tokenize_nl,
    untokenize_code,
)


@pytest.fixture(scope="module")
def django_lines() -> list[str]:
    data_dir = os.environ.get("SEQ2CODE_DATA", "").strip()
    if not data_dir:
        pytest.skip("SEQ2CODE_DATA is not set: point it at a folder with all.anno and all.code")
    from seq2code.data import load_django

    splits = load_django(data_dir)
    return [ex.code for name in ("train", "dev", "test") for ex in splits[name]]


# --- English ---------------------------------------------------------------------------------


def test_nl_keeps_quoted_strings_whole_and_splits_dotted_names():
    text = "call the function six.text_type with 'utf-8' and \"max_length\" as arguments."
    assert tokenize_nl(text) == ["call", "the", "function", "six", ".", "text_type", "with",
                                 "'utf-8'", "and", '"max_length"', "as", "arguments", "."]


def test_nl_keeps_case_numbers_and_apostrophes_inside_strings():
    text = 'raise ValueError with string "can\'t do %s", 0.15 and kwargs[\'x\'].'
    assert tokenize_nl(text) == ["raise", "ValueError", "with", "string", '"can\'t do %s"',
                                 ",", "0.15", "and", "kwargs", "[", "'x'", "]", "."]


def test_nl_control_and_invisible_characters_separate_words_and_are_never_tokens():
    assert tokenize_nl("call\x00foo\u200bwith\x1b bar\x7f") == ["call", "foo", "with", "bar"]
    assert tokenize_nl("\x00\x01\u200b\ufeff") == []
    assert tokenize_nl("définir café 😀") == ["définir", "café", "😀"]


def test_nl_apostrophe_outside_a_string_is_punctuation():
    assert tokenize_nl("it doesn't") == ["it", "doesn", "'", "t"]


# --- code ------------------------------------------------------------------------------------


def test_code_tokens_are_pythons_tokens():
    assert tokenize_code("  x = foo ( a , 'b c' ) # note\n") == [
        "x", "=", "foo", "(", "a", ",", "'b c'", ")"]
    assert tokenize_code("else :") == ["else", ":"]
    assert tokenize_code("return u'x' ** -1.5e3") == ["return", "u'x'", "**", "-", "1.5e3"]


def test_fstring_is_one_token_on_every_python():
    assert tokenize_code("x = f'{a}!' + b") == ["x", "=", "f'{a}!'", "+", "b"]


def test_fallback_for_lines_python_rejects():
    line = 'x = """unterminated docstring'
    assert needs_fallback(line)
    with pytest.raises(CodeTokenError):
        tokenize_code(line, strict=True)
    assert tokenize_code(line) == ["x", "=", '"""unterminated docstring']
    assert tokenize_code("a $ b") == ["a", "$", "b"]
    assert not needs_fallback("x = 1")


@pytest.mark.parametrize("tokens, source", [
    (["x", "=", "foo", "(", "a", ",", "b", "=", "-", "1", ")"], "x = foo(a, b=-1)"),
    (["def", "f", "(", "self", ",", "*", "args", ",", "**", "kw", ")", ":"],
     "def f(self, *args, **kw):"),
    (["y", "=", "x", "[", "1", ":", "-", "1", "]", "**", "-", "2"], "y = x[1:-1] ** -2"),
    (["d", "=", "{", "'a'", ":", "1", "}"], "d = {'a': 1}"),
    (["@", "register", ".", "filter", "(", "is_safe", "=", "True", ")"],
     "@register.filter(is_safe=True)"),
    (["return", "-", "x", "if", "not", "y", "else", "(", "1", ",", ")"],
     "return -x if not y else (1,)"),
    (["x", "=", "1", ".", "real"], "x = 1 .real"),  # not the float 1.
    (["from", ".", "import", "x"], "from . import x"),
])
def test_untokenize_spacing(tokens, source):
    assert untokenize_code(tokens) == source
    assert tokenize_code(source) == tokens


@pytest.mark.parametrize("tokens", [
    ["x", "=", "=", "1"],        # = = must not become ==
    ["a", "*", "*", "b"],        # * * must not become **
    ["f", "(", "-", ">", ")"],   # - > must not become ->
    [".", "5"],                  # must not become the float .5
    ["u", "'x'"],                # must not become the literal u'x'
])
def test_untokenize_never_fuses_tokens(tokens):
    assert tokenize_code(untokenize_code(tokens)) == tokens


def test_round_trip_on_every_django_line(django_lines):
    assert len(django_lines) == 18805
    failures = []
    for line in django_lines:
        tokens = tokenize_code(line)
        if tokenize_code(untokenize_code(tokens)) != tokens:
            failures.append(line)
    assert failures == []


def test_no_django_line_needs_the_fallback(django_lines):
    assert [line for line in django_lines if needs_fallback(line)] == []


# --- canonical form --------------------------------------------------------------------------


def test_canonicalize_replaces_a_string_the_english_quotes():
    nl = tokenize_nl("call get with 'name'.")
    code = tokenize_code("get ( 'name' )")
    nl_c, code_c, mapping = canonicalize(nl, code)
    assert nl_c == ["call", "get", "with", "_STR:0_", "."]
    assert code_c == ["get", "(", "_STR:0_", ")"]
    assert mapping == {"_STR:0_": "'name'"}
    assert decanonicalize(code_c, mapping) == code


def test_canonicalize_leaves_a_literal_the_english_lacks():
    nl = tokenize_nl("call get with a string.")
    code = tokenize_code("get ( 'spam' )")
    nl_c, code_c, mapping = canonicalize(nl, code)
    assert (nl_c, code_c, mapping) == (nl, code, {})


def test_canonicalize_two_strings_numbered_by_the_english():
    nl = tokenize_nl("replace 'b' with \"a\" in 'c'.")
    code = tokenize_code("x = s . replace ( 'a' , 'b' ) + 'z'")
    nl_c, code_c, mapping = canonicalize(nl, code)
    assert nl_c == ["replace", "_STR:0_", "with", "_STR:1_", "in", "_STR:2_", "."]
    assert code_c == ["x", "=", "s", ".", "replace", "(", "_STR:1_", ",", "_STR:0_", ")",
                      "+", "'z'"]
    assert decanonicalize(code_c, mapping) == code
    assert mapping["_STR:2_"] == "'c'"  # not in the code: the English's own literal


def test_canonicalize_ignores_quote_style_and_prefixes():
    nl = tokenize_nl("""return 'utf-8' and "it's".""")
    code = tokenize_code('''return u"utf-8" , 'it\\'s' ''')
    _, code_c, mapping = canonicalize(nl, code)
    assert code_c == ["return", "_STR:0_", ",", "_STR:1_"]
    assert mapping == {"_STR:0_": 'u"utf-8"', "_STR:1_": "'it\\'s'"}
    assert decanonicalize(code_c, mapping) == code


def test_canonicalize_leaves_percent_s_alone_as_tranx_does():
    nl = tokenize_nl("replace '%s' with x in 'a %s'.")
    code = tokenize_code("y = 'a %s' % x")
    nl_c, code_c, _ = canonicalize(nl, code)
    assert nl_c[1] == "'%s'" and code_c == ["y", "=", "_STR:0_", "%", "x"]


def test_numbering_does_not_depend_on_the_code():
    """A hypothesis using the wrong quoted string must not match the reference."""
    nl = tokenize_nl("call f with 'a' or 'b'.")
    _, ref, _ = canonicalize(nl, tokenize_code("f ( 'b' )"))
    _, hyp, _ = canonicalize(nl, tokenize_code("f ( 'a' )"))
    assert ref == ["f", "(", "_STR:1_", ")"] and hyp == ["f", "(", "_STR:0_", ")"]


def test_decanonicalize_keeps_unknown_placeholders():
    assert decanonicalize(["f", "(", "_STR:3_", ")"], {"_STR:0_": "'a'"}) == [
        "f", "(", "_STR:3_", ")"]


def test_code_token_kinds():
    tokens = tokenize_code("if self . x == u'a' : return 1.5 + None")
    assert [code_token_kind(t) for t in tokens] == [
        "keyword", "name", "operator", "name", "operator", "string", "operator", "keyword",
        "number", "operator", "keyword"]
