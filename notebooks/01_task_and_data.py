# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#     provenance: []
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: accelerator,colab
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["setup"]
# @title Setup: on Colab this installs seq2code and applies the form; locally it changes nothing
# @markdown **Keep trained models on your Google Drive** (Colab asks to connect it), so that a later chapter, in a new runtime, reads them instead of training them again:
KEEP_MODELS_ON_DRIVE = False  # @param {type:"boolean"}
# @markdown **Run profile** on Colab: `cpu` trains each model for a few epochs, `full` until it stops improving (the real results, many times longer). A chapter that trains prints the minutes of both first.
PROFILE = "cpu"  # @param ["cpu", "full"]
import importlib.util
import os
import subprocess
import sys

SEQ2CODE_SOURCE = os.environ.get("SEQ2CODE_SOURCE", "git+https://github.com/seq2code/seq2code.git")
if "google.colab" in sys.modules or importlib.util.find_spec("seq2code") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", SEQ2CODE_SOURCE], check=True)
from seq2code.colab import setup_runtime

setup_runtime(keep_models_on_drive=KEEP_MODELS_ON_DRIVE, profile=PROFILE)

# %% [markdown]
# # 1. The task and the data
#
# A sentence of English goes in, one line of Python comes out:
#
# | English | Python |
# | :--- | :--- |
# | call the function `signals.request_finished.connect` with argument `cache.close`. | `signals.request_finished.connect(cache.close)` |
#
# Every model in this course learns that mapping from examples, and every one of them is
# judged on the same data: the **Django dataset** of Oda et al. (2015), 18,805 lines of the
# Django web framework, each paired with an English description written by a programmer.
# This chapter trains nothing. It looks hard at the data and builds the pipeline that turns
# a pair of strings into the tensors a model reads, so that the later chapters can spend
# their time on the models.
#
# **What you will learn**
#
# - what the task is, and the fixed split that every published result on Django uses;
# - how both sides become tokens: a small tokenizer for the English, Python's own
#   `tokenize` module for the code, and the way back from tokens to source;
# - how much of the code is already written in the English, and why that makes
#   *attention* and *copying* the key ideas of this course;
# - what a vocabulary costs and misses (unknown tokens), and how padding, masks and the
#   shift by one turn token lists into tensors;
# - how the course scores a generated line: exact match (raw and canonical), BLEU and the
#   parse rate, and why BLEU is weak on code.
#
# **Reading the chapters.** The code that is the lesson is shown as it runs. The code that
# supports it is folded, one click away, in the book: the imports, the code that only
# draws a figure, lays out a table or measures something the text explains (its result is
# shown), and listings of the library's source that the text has already described. Click
# *Show code cell source* or *Show code cell output* to open one. In Jupyter and on Colab
# every cell is open.

# %% tags=["hide-input"]
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from seq2code.batching import encode_pairs, make_batches
from seq2code.data import load_django
from seq2code.plots import column_figure, use_book_style
from seq2code.profiles import get_profile
from seq2code.show import show_source
from seq2code.tables import Table
from seq2code.tokens import (
    TOKEN_KINDS,
    canonicalize,
    code_token_kind,
    decanonicalize,
    needs_fallback,
    tokenize_code,
    tokenize_nl,
    untokenize_code,
)
from seq2code.vocab import PAD_ID, Vocab

torch.manual_seed(0)
use_book_style()  # figures drawn for the book's column, their labels at the text's size
profile = get_profile()  # this chapter trains nothing; it borrows the profile's min_freq
print(f"run profile: {profile.name} (vocabularies keep tokens seen {profile.min_freq}+ times)")

# %% [markdown]
# ## 1.1 The data
#
# `load_django` reads the two files of the dataset, `all.anno` (the English) and `all.code`
# (the Python), line by line. On first use it downloads them from the dataset's public
# repository and checks their SHA-256 digests, so that every reader works on exactly the same
# bytes; set the environment variable `SEQ2CODE_DATA` to a folder holding the two files to
# use a local copy instead.

# %%
start = time.perf_counter()
splits = load_django()
train, dev, test = splits["train"], splits["dev"], splits["test"]
print(f"loaded in {time.perf_counter() - start:.2f} s")
Table(["line", "English description", "Python line"],
      [[ex.index, ex.nl, ex.code] for ex in (train[i] for i in (1, 9, 12, 15, 27, 35, 52))],
      formats=[None, None, "code"])

# %% [markdown]
# Each example holds its line number, the English and the code. The descriptions were
# written by people and are not always clean: the one of line 9 begins with the tail of
# line 8's (which describes a long list), and line 35's starts with a typo, "aise" for
# "raise". Models have to live with such noise, and so do their scores.
#
# The code lines were cut
# out of their files one at a time: the indentation is gone, and a block header such as
# `try :` or `else :` is a line of its own, without its body. The code was also written with
# spaces between its tokens (`self . x ( )`), which is how the original authors prepared it;
# we will tokenize it with Python's own tokenizer anyway, so that spacing does not matter.
#
# The split is fixed by line number, as in every published result:

# %%
Table(["split", "lines", "examples"],
      [[name, f"{examples[0].index} .. {examples[-1].index}", len(examples)]
       for name, examples in splits.items()],
      formats=[None, None, ",d"])

# %% tags=["outcome", "remove-cell"]
assert train[9].nl.startswith("'CacheKeyWarning' and 'BaseCache'")
assert train[35].nl.startswith("aise ") and train[35].code.startswith("raise ")
assert [len(train), len(dev), len(test)] == [16000, 1000, 1805]
assert (train[0].index, dev[0].index, test[0].index, test[-1].index) == (0, 16000, 17000, 18804)

# %% [markdown]
# The split is not random: the lines keep the order of the files they came from, so the
# development set (`dev`, for choosing models) and the test set come from *other Django
# modules* than the training set. They use names the training set has never seen, a fact
# that will come back in section 1.5.
#
# ## 1.2 From strings to tokens
#
# A model reads and writes sequences of *tokens*. The English side is split into words and
# single punctuation marks, with two exceptions that matter for code: a quoted string stays
# one token (quotes included), because the code writes it as one string literal, and a
# dotted name such as `six.text_type` is split at its dots, because the code side splits it
# too. Case is kept: identifiers are copied from the English into the code letter for letter.

# %%
show_source(tokenize_nl)

# %% [markdown]
# The code side needs no home-made rules: Python's standard library tokenizes Python.
# `tokenize_code` keeps the tokens Python reports and drops the ones that only describe the
# layout of a file (newlines, indentation).

# %% tags=["hide-output"]
show_source(tokenize_code)

# %%
example = train[13]
print("English:", example.nl)
print(tokenize_nl(example.nl))
print("\nPython: ", example.code)
print(tokenize_code(example.code))

# %% [markdown]
# ## 1.3 How long are the sequences?
#
# Lengths decide the cost of training (a recurrent network takes one step per token) and
# the difficulty of the task (a long line has more tokens to get wrong).

# %%
nl_tokens = {name: [tokenize_nl(ex.nl) for ex in examples] for name, examples in splits.items()}
code_tokens = {name: [tokenize_code(ex.code) for ex in examples]
               for name, examples in splits.items()}
nl_lens = np.array([len(tokens) for tokens in nl_tokens["train"]])
code_lens = np.array([len(tokens) for tokens in code_tokens["train"]])

Table(["side (train)", "mean", "median", "90th percentile", "99th percentile", "longest",
       f"longer than {profile.max_src_len}"],
      [[side, lens.mean(), np.median(lens), np.percentile(lens, 90), np.percentile(lens, 99),
        lens.max(), (lens > profile.max_src_len).mean()]
       for side, lens in (("English", nl_lens), ("Python", code_lens))],
      formats=[None, ".1f", ".0f", ".0f", ".0f", "d", ".2%"])

# %% tags=["hide-input"]
fig, ax = column_figure(row_height=3.2)
bins = np.arange(0, 62, 2)
for lens, label in ((nl_lens, "English"), (code_lens, "Python")):
    ax.hist(np.minimum(lens, bins[-1] - 1), bins=bins, alpha=0.6, label=label)
ax.set_xlabel("tokens per line (the last bin: everything longer)")
ax.set_ylabel("training examples")
ax.set_title("Length of the two sides, training set")
ax.legend()
plt.show()

# %% tags=["outcome", "remove-cell"]
assert np.median(nl_lens) > np.median(code_lens)  # the English is longer than its code
assert nl_lens.max() > 300 and code_lens.max() > 300  # a long tail on both sides
assert (nl_lens > profile.max_src_len).mean() < 0.01
assert (code_lens > profile.max_tgt_len).mean() < 0.01

# %% [markdown]
# Most lines are short: the English usually runs a little longer than its code, since it
# spells out what the code writes with symbols. Both sides have a long tail of a few
# hundred tokens (a line that writes out a long list or a long string): the run profiles cut
# lines at `max_src_len` and `max_tgt_len` tokens, which touches less than one percent of
# them (the last column above).
#
# ## 1.4 Much of the code is already in the English
#
# Look again at the examples of section 1.1: the names (`DEFAULT_CACHE_ALIAS`,
# `get_cache`, `kwargs`) and the strings (`'default'`) of the code appear word for word in
# the English. How often is that so? For every code token of the training set, we ask
# whether the same token appears in its English description, and break the answer down by
# the kind of token.

# %% tags=["hide-input"]
copied = dict.fromkeys(TOKEN_KINDS, 0)
total = dict.fromkeys(TOKEN_KINDS, 0)
for nl, code in zip(nl_tokens["train"], code_tokens["train"], strict=True):
    nl_set = set(nl)
    for token in code:
        kind = code_token_kind(token)
        total[kind] += 1
        copied[kind] += token in nl_set
share = {kind: copied[kind] / total[kind] for kind in TOKEN_KINDS}
overall = sum(copied.values()) / sum(total.values())
Table(["kind of code token", "tokens", "share of all code tokens", "also in the English"],
      [[kind, total[kind], total[kind] / sum(total.values()), share[kind]]
       for kind in TOKEN_KINDS] + [["all", sum(total.values()), 1.0, overall]],
      formats=[None, ",d", ".1%", ".1%"])

# %% tags=["hide-input"]
fig, ax = column_figure(row_height=3.0)
ax.barh(TOKEN_KINDS[::-1], [share[kind] for kind in TOKEN_KINDS[::-1]], color="tab:green")
ax.set_xlim(0, 1)
ax.set_xlabel("share of code tokens found verbatim in the English")
ax.set_title("What a model could copy, by kind of token (training set)", loc="left")
plt.show()

# %% tags=["outcome", "remove-cell"]
assert share["name"] > 0.85  # nearly nine names in ten
assert share["string"] > 0.5 and share["keyword"] > 0.5
assert share["operator"] < 0.5 < overall
assert max(TOKEN_KINDS, key=total.get) == "operator" and total["name"] > total["keyword"]

# %% [markdown]
# Nearly nine names in ten, and more than half of the strings and keywords, are written out
# in the English; operators and punctuation (`(`, `.`, `=`) much less, since the English
# says "call ... with argument" instead. Over all tokens, more than half of every line's
# code can be found in its description.
#
# This is the most important fact about the data. A decoder that must squeeze the whole
# English into one vector before it writes (chapters 2 and 3) has to remember every name it
# will need. A decoder that can look back at the English at each step (*attention*, chapter
# 4) can find the name it needs when it needs it; and one that can *copy* a token from the
# English into its output (a pointer network, chapter 7) can even write names that it never
# saw during training. Section 1.5 shows why that last point matters on this split.
#
# ## 1.5 Vocabularies and unknown tokens
#
# A model works with token *ids*: a vocabulary numbers the tokens of the training set,
# keeping only those seen at least `min_freq` times, so that the model does not spend
# parameters on tokens it saw once. Every other token becomes `<unk>`. Four special tokens
# have fixed ids on both sides: `<pad>` = 0 (padding), `<sos>` = 1 (start of sequence),
# `<eos>` = 2 (end of sequence) and `<unk>` = 3.

# %% tags=["hide-output"]
show_source(Vocab.build)


# %% tags=["hide-input"]
def vocab_rows(tokens: dict[str, list[list[str]]], min_freqs=(1, 2, 3, 5, 10)) -> list[list]:
    """Per ``min_freq``: vocabulary size, the share of training tokens it covers, and on dev
    the share of tokens and of lines that hit ``<unk>``."""
    train_flat = [t for line in tokens["train"] for t in line]
    dev_flat = [t for line in tokens["dev"] for t in line]
    rows = []
    for min_freq in min_freqs:
        vocab = Vocab.build(tokens["train"], min_freq=min_freq)
        rows.append([min_freq, len(vocab),
                     sum(t in vocab for t in train_flat) / len(train_flat),
                     sum(t not in vocab for t in dev_flat) / len(dev_flat),
                     sum(any(t not in vocab for t in line) for line in tokens["dev"])
                     / len(tokens["dev"])])
    return rows


MIN_FREQS = (1, 2, 3, 5, 10)
coverage = {"English": vocab_rows(nl_tokens, MIN_FREQS), "Python": vocab_rows(code_tokens,
                                                                                MIN_FREQS)}
Table(["side", "min_freq", "vocabulary size", "train tokens covered", "dev tokens unknown",
       "dev lines with an unknown"],
      [[side, *row] for side, rows in coverage.items() for row in rows],
      formats=[None, "d", ",d", ".1%", ".1%", ".1%"])

# %% tags=["hide-input"]
fig, (ax_size, ax_unk) = column_figure(2, row_height=2.7, sharex=True)
for side, rows in coverage.items():
    ax_size.plot(MIN_FREQS, [row[1] for row in rows], "o-", label=side)
    ax_unk.plot(MIN_FREQS, [row[3] for row in rows], "o-", label=side)
ax_size.set_ylabel("vocabulary size")
ax_size.set_title("Smaller vocabularies ...")
ax_unk.set_xlabel("min_freq")
ax_unk.set_ylabel("share of dev tokens that are <unk>")
ax_unk.set_ylim(0, None)
ax_unk.yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
ax_unk.set_title("... more unknown tokens on dev")
for ax in (ax_size, ax_unk):
    ax.set_xticks(MIN_FREQS)
    ax.legend()
plt.show()

# %% [markdown]
# Raising `min_freq` shrinks the vocabularies several times over while the share of unknown
# tokens on dev grows only slowly. But even keeping *every* training token (`min_freq` = 1),
# a large share of the dev code tokens, and the majority of dev lines, are unknown: the dev
# lines come from other files, with their own names. Where are those unknown code tokens?

# %% tags=["hide-input"]
code_vocab = Vocab.build(code_tokens["train"], min_freq=profile.min_freq)
unknown = [(token, token in set(nl))
           for nl, code in zip(nl_tokens["dev"], code_tokens["dev"], strict=True)
           for token in code if token not in code_vocab]
unknown_in_english = sum(found for _, found in unknown) / len(unknown)
print(f"dev code tokens outside the code vocabulary (min_freq={profile.min_freq}): "
      f"{len(unknown):,}, of which {unknown_in_english:.1%} appear verbatim in the English")
print("some of the names among them:",
      ", ".join(sorted({t for t, found in unknown if found and code_token_kind(t) == "name"})[:15]))

# %% tags=["outcome", "remove-cell"]
for rows in coverage.values():
    sizes, unk_rates = [row[1] for row in rows], [row[3] for row in rows]
    assert sizes == sorted(sizes, reverse=True) and unk_rates == sorted(unk_rates)
    assert sizes[0] > 3 * sizes[3]  # min_freq 5 keeps under a third of the tokens
    assert rows[0][4] > 0.5  # even at min_freq 1, most dev lines hold an unknown token
    assert unk_rates[-1] - unk_rates[0] < 0.1  # the unknown share grows only slowly
assert coverage["Python"][0][3] > 0.1  # more than a tenth of dev code tokens unknown
assert unknown_in_english > 0.75

# %% [markdown]
# Most of the code tokens that the vocabulary lacks are written in the English: a model that
# can copy from its input could write them, and a model that cannot has no way to. This is
# why the copy mechanism of chapter 7 is the biggest single improvement on this data.
#
# ## 1.6 Back from tokens to source
#
# A model writes tokens; a reader (and `ast.parse`) wants source code. `untokenize_code`
# joins the tokens with the spacing a Python programmer would use: spaces around binary
# operators and after commas, none inside brackets, around dots or before a call's
# parenthesis. Its one hard requirement is that tokenizing its output gives back exactly the
# same tokens: two tokens must never fuse into one (`=` `=` into `==`, `1` `.` into the
# float `1.`), and a name must never touch a following string (`u` `'x'` is not `u'x'`).

# %% tags=["hide-output"]
show_source(untokenize_code)

# %%
Table(["the dataset's line", "untokenized"],
      [[ex.code, untokenize_code(tokenize_code(ex.code))]
       for ex in (train[i] for i in (9, 12, 23, 42, 3001, 9000))],
      formats=["code", "code"])

# %%
all_lines = [ex.code for examples in splits.values() for ex in examples]
round_trip_failures = [line for line in all_lines
                       if tokenize_code(untokenize_code(tokenize_code(line)))
                       != tokenize_code(line)]
fallback_lines = [line for line in all_lines if needs_fallback(line)]
print(f"lines: {len(all_lines):,}; round-trip failures: {len(round_trip_failures)}; "
      f"lines Python's tokenizer rejects: {len(fallback_lines)}")

# %% tags=["outcome", "remove-cell"]
assert len(all_lines) == 18805
assert round_trip_failures == [] and fallback_lines == []

# %% [markdown]
# The round trip holds on every one of the 18,805 lines, and Python's tokenizer accepts every
# line of the dataset. A model's output may not be so well formed: for a line that
# `tokenize` rejects, `tokenize_code` falls back to a regular expression with the same token
# classes, and an unclosed string runs to the end of the line:

# %%
broken = 'x = """an unclosed docstring'
print(needs_fallback(broken), tokenize_code(broken))

# %% [markdown]
# ## 1.7 The canonical form: strings behind placeholders
#
# The published results on Django that this course compares itself with do not score the
# raw tokens: following TranX (Yin & Neubig, 2018), they put string literals behind
# placeholders first. A string literal that the English quotes, such as
# `'default'` below, is replaced by a placeholder `_STR:0_` on both sides before training
# and scoring, and put back afterwards: a model then only has to say *where* the quoted
# string goes, not spell it out. A literal the English does not contain stays as it is, so
# a model that invents a wrong string is still wrong. This course reports both scores,
# labelled: raw-token exact match and canonical exact match.
#
# In the example below the English quotes four strings; the code uses three of them, which
# become placeholders, and two more literals that the English does not quote, which stay.
# The placeholders are numbered by the English alone, so that a generated line and its
# reference, canonicalized with the same English, use the same numbers.

# %%
example = train[3001]
nl, code, mapping = canonicalize(tokenize_nl(example.nl), tokenize_code(example.code))
print("English:   ", example.nl)
print("canonical: ", " ".join(nl))
print("\nPython:    ", untokenize_code(tokenize_code(example.code)))
print("canonical: ", untokenize_code(code))
print("\nmapping:", mapping)
print("put back: ", untokenize_code(decanonicalize(code, mapping)))

# %% tags=["hide-input"]
canonical = [canonicalize(nl, code) for nl, code in zip(nl_tokens["train"],
                                                        code_tokens["train"], strict=True)]
with_placeholder = sum(any(t.startswith("_STR:") for t in code) for _, code, _ in canonical)
literals_kept = sum(code_token_kind(t) == "string" for _, code, _ in canonical for t in code)
print(f"training lines whose code gets a placeholder: {with_placeholder:,} "
      f"({with_placeholder / len(canonical):.1%}); string literals left as they are: "
      f"{literals_kept:,} of {total['string']:,}")

# %% tags=["outcome", "remove-cell"]
assert sum(t.startswith("_STR:") for t in set(nl)) == 4
assert {t for t in code if t.startswith("_STR:")} == {"_STR:1_", "_STR:2_", "_STR:3_"}
assert sum(code_token_kind(t) == "string" for t in code) == 2
assert decanonicalize(code, mapping) == tokenize_code(example.code)
assert 0.1 < with_placeholder / len(canonical) < 0.2
assert 0 < literals_kept < total["string"]

# %% [markdown]
# ## 1.8 Padding, masks and the shift by one
#
# A batch stacks several examples into one tensor. Lines differ in length, so the shorter
# ones are filled up with `<pad>` (id 0), and a *mask* records which positions are real.
# Every later chapter relies on it: the loss ignores padded positions, and attention (chapter
# 4) must never look at them.
#
# `encode_pairs` turns token lists into ids, framing the code as `<sos>` ... `<eos>`;
# `make_batches` cuts the examples into batches. With `by_length=True` it puts examples whose
# code has a similar length into the same batch, which cuts the padding, and then shuffles
# the batches. It sorts by the code's length because the decoder runs one step per code
# position of the longest line in the batch, and each step ends in the output layer over the
# whole code vocabulary, the costliest part of training.

# %%
src_vocab = Vocab.build(nl_tokens["train"], min_freq=profile.min_freq)
tgt_vocab = code_vocab
pairs = encode_pairs(nl_tokens["train"], code_tokens["train"], src_vocab, tgt_vocab,
                     max_src_len=profile.max_src_len, max_tgt_len=profile.max_tgt_len)
print(f"vocabularies: English {len(src_vocab):,} tokens, Python {len(tgt_vocab):,} tokens; "
      f"lines cut at {profile.max_src_len} / {profile.max_tgt_len} tokens, as in training")

padding = {}  # by_length -> (share of src that is padding, share of tgt that is padding)
for by_length in (False, True):
    batches = make_batches(pairs, batch_size=64, shuffle=True, by_length=by_length, seed=0)
    padding[by_length] = tuple(
        sum(int((getattr(b, side) == PAD_ID).sum()) for b in batches)
        / sum(getattr(b, side).numel() for b in batches) for side in ("src", "tgt"))
Table(["batching (64 examples a batch)", "English tensor: padding", "code tensor: padding"],
      [["random order", *padding[False]], ["by length", *padding[True]]],
      formats=[None, ".1%", ".1%"])

# %% tags=["outcome", "remove-cell"]
assert padding[True][1] < padding[False][1] / 3  # far less code padding
assert padding[True][0] < padding[False][0]  # and less English padding too

# %% [markdown]
# Sorting by the code's length nearly removes the code padding and, since long descriptions
# tend to go with long lines, cuts the English padding too, though less.
#
# Here is one small batch of six random training examples, drawn as a picture: each row is
# an example, each cell a token id (written in it), grey cells are padding. Below each id
# tensor is its mask (`src_mask` for the English; for the code, the positions that are not
# `<pad>`).

# %% tags=["hide-output"]
show_source(make_batches)

# %%
(batch,) = make_batches([pairs[i] for i in (15, 27, 1, 52, 9, 12)], batch_size=6,
                        by_length=False)

# %% tags=["hide-input"]
# The drawing of the batch (the book folds this cell: open it to see how it is drawn).
def draw_ids(ax, ids: torch.Tensor, title: str) -> None:
    """Draw a ``[B, L]`` id tensor: colour by id, padding grey, each cell labelled with its
    id (a vocabulary's ``itos[id]`` is its token)."""
    values = np.ma.masked_where(ids.numpy() == PAD_ID, np.log1p(ids.numpy()))
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("lightgrey")
    ax.imshow(values, cmap=cmap, aspect="auto")
    bright = values.min() + 0.7 * (values.max() - values.min())  # yellow: dark text on it
    for (row, col), i in np.ndenumerate(ids.numpy()):
        if i != PAD_ID:
            ax.text(col, row, str(i), ha="center", va="center", fontsize=9,
                    color="black" if values[row, col] > bright else "white")
    ax.set_title(title, loc="left")
    ax.set_ylabel("example")


# One panel per row: the English ids and their mask, then the code ids and theirs.
fig, axes = column_figure(4, row_height=1.9,
                          gridspec_kw={"height_ratios": [2.6, 1, 2.6, 1]})
draw_ids(axes[0], batch.src, f"src: English ids {list(batch.src.shape)}")
draw_ids(axes[2], batch.tgt, f"tgt: code ids {list(batch.tgt.shape)}")
for ax, mask, name in ((axes[1], batch.src_mask, "src_mask"),
                       (axes[3], batch.tgt != PAD_ID, "tgt != <pad>")):
    ax.imshow(mask.numpy(), cmap="Greys", vmin=0, vmax=1.5, aspect="auto")
    ax.set_title(f"{name}: True (dark) at real tokens", loc="left")
    ax.set_ylabel("example")
    ax.set_xlabel("position")
plt.show()

print("src_lens:", batch.src_lens.tolist(), " tgt_lens:", batch.tgt_lens.tolist())

# %% tags=["outcome", "remove-cell"]
positions = torch.arange(batch.src.size(1))
assert torch.equal(batch.src_mask, positions[None, :] < batch.src_lens[:, None])
assert int((~batch.src_mask).sum()) > 0  # the picture does show padding

# %% [markdown]
# The decoder writes the code one token at a time and, during training, is shown the
# correct previous token at each step (*teacher forcing*, chapter 2). Its input is therefore
# the code tensor without its last position (`tgt_in`, starting with `<sos>`), and its
# target is the same tensor without its first position (`tgt_out`, ending with `<eos>`): at
# step $t$ it reads $y_{t-1}$ and must predict $y_t$. For the first example of the batch:

# %%
row = 0
Table(["step t", "decoder reads (tgt_in)", "must predict (tgt_out)"],
      [[t, tgt_vocab.itos[i], tgt_vocab.itos[o]]
       for t, (i, o) in enumerate(zip(batch.tgt_in[row].tolist(), batch.tgt_out[row].tolist(),
                                      strict=True), start=1)],
      formats=["d", "code", "code"])

# %% tags=["outcome", "remove-cell"]
assert torch.equal(batch.tgt_in[:, 1:], batch.tgt_out[:, :-1])
last = int(batch.tgt_lens[row]) - 2  # tgt_lens counts <sos> and <eos>
assert batch.tgt_in[row, 0].item() == 1 and tgt_vocab.itos[int(batch.tgt_out[row, last])] == "<eos>"

# %% [markdown]
# Where the row is shorter than the batch, both `tgt_in` and `tgt_out` end in `<pad>`: the
# loss skips those positions (`ignore_index=0`), so padding never teaches the model anything.
#
# ## 1.9 How a generated line is scored
#
# From chapter 2 on, every model writes a line of code for each English description of the
# development set, and the course scores the lines against their references with the
# functions of `seq2code.metrics` (`evaluate_model` runs them all). Every metric compares
# tokens, so spacing never matters.
#
# - **Exact match (raw)**: the share of lines whose tokens equal their reference's, one for
#   one. A line is right or it is not: the strictest score, and the one the course trusts
#   most.
# - **Exact match (canonical)**: the same after putting both lines in the canonical form of
#   section 1.7, with the same English, so that a string the English quotes becomes the same
#   placeholder on both sides. The published Django results count this way; the course
#   reports both, each labelled.
# - **BLEU** (Papineni et al., 2002): over all the lines, the geometric mean of the shares of
#   their 1- to 4-token sequences (*n-grams*) that the references also contain (each counted
#   at most as often as its reference has it), times a penalty when the lines are shorter
#   than their references. The course computes it with sacreBLEU (Post, 2018) on the code
#   tokens, with sacreBLEU's own tokenizer switched off and the generated lines first: the
#   order matters, because the counts and the penalty are taken against the references.
#   BLEU gives partial credit for shared n-grams, and that is what makes it weak on code, as
#   the example below shows; read it beside exact match, never alone.
# - **Parse rate**: the share of generated lines that Python's parser, `ast.parse`, accepts.
#   A Django line is often not a program by itself: a block header such as `else :` or
#   `for x in y :` lost its body, and sometimes the statement it continues, when it was cut
#   out of its file (section 1.1). Following TranX, `complete_statement` first completes the
#   line into a small program around it: `pass` as the body of a header, `if True: pass`
#   before an `elif` or `else`, `try: pass` before an `except` or `finally` and
#   `except: pass` after a `try`'s body, a function `def dummy(): pass` under a decorator.
# - **Edit distance**: the fewest tokens to insert, delete or replace to turn a line into
#   its reference (the Levenshtein distance over tokens), averaged over the lines: how far
#   the wrong lines are from being right.
#
# Here is `complete_statement` on the first training line of each kind of header, and the
# parse rate of the dataset's own lines, as they are and completed:

# %% tags=["hide-input"]
import ast
import textwrap

from seq2code.metrics import complete_statement, parse_rate


def parses_as_is(code: str) -> bool:
    """Whether ``ast.parse`` accepts ``code`` without completion."""
    try:
        ast.parse(code.strip())
    except SyntaxError:
        return False
    return True


headers = [next(ex.code for ex in train if ex.code.startswith(start))
           for start in ("else", "elif", "for", "try", "except", "finally", "@")]
for line in headers:
    completed = complete_statement(line)
    print(f"{line}    parses as it is: {parses_as_is(line)}; completed "
          f"(parses: {parses_as_is(completed)}):")
    print(textwrap.indent(completed, "    "))
as_is = np.mean([parses_as_is(line) for line in all_lines])
print(f"\nthe dataset's {len(all_lines):,} lines: {as_is:.1%} parse as they are, "
      f"{parse_rate(all_lines):.1%} after complete_statement")

# %% tags=["outcome", "remove-cell"]
assert all(not parses_as_is(line) and parses_as_is(complete_statement(line))
           for line in headers)
assert as_is < 1.0 and parse_rate(all_lines) == 1.0

# %% [markdown]
# Without the completion a correct `else :` would count as a line that does not parse.
# With it, every line of the dataset parses: a parse rate below 100% is the model's doing.
#
# BLEU's partial credit is easy to see on one line. Below, a training line is scored against
# itself, against the same line with `==` turned into `!=` (a test of the opposite
# condition), and against the same line with its strings in double quotes (the very same
# program, as `ast.parse` confirms):

# %%
from seq2code.metrics import bleu, exact_match

reference = tokenize_code(train[4420].code)
variants = {"nothing (the reference)": reference,
            "== turned into !=": ["!=" if t == "==" else t for t in reference],
            "strings in double quotes": [t.replace("'", '"') for t in reference]}
program = {change: ast.dump(ast.parse(untokenize_code(tokens)))
           for change, tokens in variants.items()}
scores = {change: (exact_match([tokens], [reference]), bleu([tokens], [reference]))
          for change, tokens in variants.items()}
Table(["generated line", "changed", "exact match", "BLEU",
       "same program as the reference"],
      [[untokenize_code(tokens), change, *scores[change],
        "yes" if program[change] == program["nothing (the reference)"] else "no"]
       for change, tokens in variants.items()],
      formats=["code", None, ".0%", ".1f", None])

# %% tags=["outcome", "remove-cell"]
opposite, quotes = "== turned into !=", "strings in double quotes"
assert scores[opposite][0] == scores[quotes][0] == 0.0
assert scores[opposite][1] > scores[quotes][1]
assert program[quotes] == program["nothing (the reference)"] != program[opposite]

# %% [markdown]
# Exact match calls both variants wrong. BLEU ranks the line that tests the opposite
# condition, which shares almost all of its n-grams with the reference, above the line that
# runs the same program, whose strings are all different tokens. A model can gain BLEU
# without writing one more correct line, which is why the course reads exact match first.
#
# ## 1.10 Exercises
#
# Each exercise below has a cell for your code: replace `raise NotImplementedError` with
# your answer and run the cell. The check under it runs your function on small cases and
# prints a tick, or a hint that names the mistake. The solution follows in a hidden cell.
#
# ### Exercise 1: the shift by one
#
# Write `shift_by_one(tgt)`: from a padded batch of code ids `tgt` of shape
# `[batch, T]`, each row framed as `<sos> y1 ... yn <eos>` and padded with `<pad>` (id 0),
# return the pair `(tgt_in, tgt_out)`, each of shape `[batch, T - 1]`: what the decoder
# reads and what it must predict (section 1.8).
#
# <details><summary>Hint</summary>
# Both are slices of <code>tgt</code> along the positions (the second axis): one drops the
# last position, the other the first.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch01 import check_shift_by_one


def shift_by_one(tgt):
    # your code here
    raise NotImplementedError


check_shift_by_one(shift_by_one)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
from seq2code.exercises.ch01 import check_shift_by_one


def shift_by_one(tgt):
    """``tgt`` ``[B, T]`` -> ``tgt_in`` ``[B, T-1]`` (<sos> y1..yn) and ``tgt_out``
    ``[B, T-1]`` (y1..yn <eos>)."""
    return tgt[:, :-1], tgt[:, 1:]


check_shift_by_one(shift_by_one, strict=True)

# %% [markdown]
# ### Exercise 2: the padding mask from the lengths
#
# Write `lengths_to_mask(lengths, max_len)`: from a tensor of real lengths of shape
# `[batch]` return a bool mask of shape `[batch, max_len]` that is True at the real
# positions of each row (the first `lengths[b]` ones) and False at the padding. Use no
# Python loop: compare a row of positions `0, 1, ..., max_len - 1` with a column of lengths
# and let broadcasting do the rest.
#
# <details><summary>Hint</summary>
# Broadcasting compares every position with every length when one of the two is a row and
# the other a column: give the positions (<code>torch.arange</code>) a leading axis of size 1
# and the lengths a trailing one. Then choose the comparison that is True at the positions
# 0, ..., L - 1 of a row of length L and False from L on.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch01 import check_lengths_to_mask


def lengths_to_mask(lengths, max_len):
    # your code here
    raise NotImplementedError


check_lengths_to_mask(lengths_to_mask)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import torch

from seq2code.exercises.ch01 import check_lengths_to_mask


def lengths_to_mask(lengths, max_len):
    """``lengths`` ``[B]`` -> ``[B, max_len]`` bool, True at positions ``s < lengths[b]``."""
    positions = torch.arange(max_len, device=lengths.device)  # [S]
    return positions[None, :] < lengths[:, None]  # [1, S] < [B, 1] -> [B, S]


check_lengths_to_mask(lengths_to_mask, strict=True)

# %% [markdown]
# ### Exercise 3: a vocabulary with `min_freq`
#
# Write `build_vocab(token_lists, min_freq)` without using `Vocab`: count the tokens of
# all the lists and return the vocabulary as a list of tokens, where position $i$ holds the
# token of id $i$. It starts with the four special tokens `<pad>`, `<sos>`, `<eos>`,
# `<unk>` (ids 0 to 3), followed by every token seen at least `min_freq` times, most
# frequent first, and equally frequent tokens in alphabetical order (so that the same data
# always gives the same ids). `Vocab.build` in section 1.5 is one answer, and the check
# refuses it: write your own.
#
# <details><summary>Hint</summary>
# <code>collections.Counter</code> counts the tokens of all the lists. <code>sorted</code>
# takes a <code>key</code> function, and tuples compare item by item: a key that returns a
# pair sorts by its first item and breaks ties with the second. Which first item puts the
# largest count first?
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch01 import check_build_vocab


def build_vocab(token_lists, min_freq):
    # your code here
    raise NotImplementedError


check_build_vocab(build_vocab)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
from collections import Counter

from seq2code.exercises.ch01 import check_build_vocab


def build_vocab(token_lists, min_freq):
    """The tokens of id 0, 1, 2, ...: the four specials, then the tokens seen ``min_freq``
    times or more, most frequent first, ties alphabetically."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    kept = [token for token, count in counts.items() if count >= min_freq]
    return ["<pad>", "<sos>", "<eos>", "<unk>"] + sorted(kept, key=lambda t: (-counts[t], t))


check_build_vocab(build_vocab, strict=True)

# %% [markdown]
# ## Summary
#
# - The task: one line of Python from one English description. The Django data has 18,805
#   such pairs, split by line number into 16,000 for training, 1,000 for development and
#   1,805 for testing; `load_django()` downloads, verifies and splits them.
# - English is split into words, punctuation and whole quoted strings; Python is tokenized
#   by Python itself, and `untokenize_code` writes tokens back as source that tokenizes to
#   the same tokens, on every line of the data.
# - Much of the code is in the English: most names and strings, and most of the tokens
#   that a training vocabulary lacks on the development set. Attention (chapter 4) and
#   copying (chapter 7) are built to use exactly that.
# - Published scores compare code in a canonical form, with the strings the English quotes
#   behind placeholders; the course reports raw and canonical exact match side by side.
# - A batch is a padded tensor with lengths and a mask; sorting by length cuts the padding;
#   the decoder reads `tgt_in` and predicts `tgt_out`, the same tokens shifted by one.
# - A generated line is scored by exact match (raw and canonical), BLEU (which gives partial
#   credit for shared n-grams, even to a line that means the opposite), the parse rate (after
#   completing lone block headers the way TranX does) and the token edit distance.
