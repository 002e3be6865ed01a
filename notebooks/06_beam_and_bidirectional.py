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
# # 6. Beam search and a bidirectional encoder
#
# Chapter 4's attention model reads the English with an encoder that runs left to right,
# and writes the code one token at a time, always taking the token it finds most likely
# (greedy decoding). This chapter improves both ends with two classic tools: **beam
# search**, which keeps several partial translations alive instead of one, and a
# **bidirectional encoder**, which reads the English in both directions. Both are measured
# against chapter 4's model on the same data.
#
# **What you will learn**
#
# - why greedy decoding is myopic, and how beam search keeps the $k$ best hypotheses, with
#   the length-normalised score $\ell(Y) = \log P(Y \mid x) / |Y|^\gamma$;
# - how a batch of $B$ sentences and their $k$ beams decode together as $B k$ rows, and how
#   the decoder's state follows the beams that survive;
# - what beam search buys on Django (exact match for $k$ = 1, 3, 5, 10) and what it costs
#   (sentences per second);
# - a bidirectional LSTM encoder: the shapes of its outputs and final states, the bridge
#   that turns the two final states into the decoder's first state, and why the source
#   must be packed;
# - how the bidirectional model compares with chapter 4's on dev and test.

# %% tags=["hide-input"]
import math
import time

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from seq2code.batching import pad
from seq2code.beam import (
    _beam_search,
    batch_axes,
    beam_search,
    length_normalised,
    reorder_state,
    sequence_log_probs,
)
from seq2code.decoding import greedy_decode
from seq2code.experiment import evaluate_model, prepare_data, train_model
from seq2code.models import build_model, count_parameters, expected_parameters
from seq2code.models.base import on_model_device
from seq2code.models.bidirectional import BidirectionalLSTMEncoder, Bridge
from seq2code.plots import column_figure, use_book_style, whole_epochs
from seq2code.profiles import get_profile
from seq2code.show import show_source
from seq2code.tables import Table
from seq2code.tokens import untokenize_code

torch.manual_seed(0)
use_book_style()  # figures drawn for the book's column, their labels at the text's size
profile = get_profile()
print(profile.describe())

# %% [markdown]
# ## 6.1 Greedy decoding is myopic
#
# A model gives the probability of a whole line of code as a product of one-step
# probabilities,
#
# $$
# P(Y \mid x) = \prod_{t=1}^{|Y|} p(y_t \mid y_{<t}, x),
# \qquad
# \log P(Y \mid x) = \sum_{t=1}^{|Y|} \log p(y_t \mid y_{<t}, x),
# $$
#
# where $Y$ ends with `<eos>`. Greedy decoding picks $y_t = \arg\max p(y_t \mid y_{<t}, x)$
# at every step and never looks back. The most likely first token need not start the most
# likely line. A two-step example with made-up probabilities: the first token is `a` with
# probability 0.6 or `b` with 0.4; after `a` the line ends with probability 0.45, after `b`
# with 0.9.

# %%
first = {"a": 0.6, "b": 0.4}
end_after = {"a": 0.45, "b": 0.9}
lines = [[f"{tok} <eos>", first[tok], end_after[tok], first[tok] * end_after[tok],
          math.log(first[tok] * end_after[tok])] for tok in first]
greedy_pick = max(first, key=first.get)
best_pick = max(first, key=lambda tok: first[tok] * end_after[tok])
display(Table(["line", "p(y_1)", "p(<eos> | y_1)", "P(Y | x)", "log P(Y | x)"], lines,
              formats=[None, ".2f", ".2f", ".2f", ".3f"]))
display(Markdown(f"Greedy decoding takes `{greedy_pick}` first and ends with probability "
                 f"{first[greedy_pick] * end_after[greedy_pick]:.2f}; the line that starts "
                 f"with `{best_pick}` is more likely, "
                 f"{first[best_pick] * end_after[best_pick]:.2f}. Keeping both first tokens "
                 "for one more step would have found it."))

# %% [markdown]
# ## 6.2 Beam search
#
# Beam search keeps the $k$ best partial hypotheses ("beams") at every step. At step $t$
# each beam $y_{<t}$ is extended by every token $w$ of the vocabulary, and each extension
# is scored by its cumulative log-probability
#
# $$
# \log P(y_{<t}\, w \mid x) = \log P(y_{<t} \mid x) + \log p(w \mid y_{<t}, x).
# $$
#
# Of the $k V$ extensions the $k$ best survive. An extension by `<eos>` is a **finished**
# hypothesis: it leaves the beam and is kept aside (the $k$ best of them are kept). A
# sentence is done when $k$ hypotheses are kept and no live beam scores better than the
# worst of them, or at the maximum length (then the unfinished beams join the kept ones).
# With $k = 1$ this is exactly greedy decoding: the first `<eos>` that greedy decoding would
# pick is kept, and the live beam, a less likely extension of the same prefix, cannot beat it.
#
# The winner is the kept hypothesis with the best **length-normalised** score
#
# $$
# \ell(Y) = \frac{\log P(Y \mid x)}{|Y|^{\gamma}},
# $$
#
# where $|Y|$ counts the tokens, `<eos>` included. Every extra token multiplies $P$ by a
# number below 1, so the raw sum ($\gamma = 0$) prefers short lines; $\gamma = 1$ ranks by
# the mean log-probability per token. (Wu et al. 2016 divide by $((5 + |Y|)/6)^\gamma$, the
# same idea, and call the exponent $\alpha$, the name of the library's argument; the course
# keeps $\alpha$ for the attention weights.) The library uses $\gamma = 1$ unless told
# otherwise.

# %%
show_source(length_normalised)

# %% [markdown]
# ### All sentences and all beams at once
#
# Decoding one sentence at a time would waste the batch. The library decodes the $B$
# sentences of a batch and their $k$ beams together, as $N = B k$ rows: row $b k + j$ is
# beam $j$ of sentence $b$. The scores live in a $[B, k]$ tensor; the candidates of a
# sentence are its $k \times V$ extensions, flattened to $[B, k V]$, so that one `topk`
# per sentence picks the survivors. Candidate $r$ extends beam $r \,/\!/\, V$ with token
# $r \bmod V$. (Inside `_beam_search` the width is the variable `K`.)
#
# At the first step every beam would be the same `<sos>`: all beams but the first start at
# $-\infty$, so the first step expands one beam only. Each step takes the $2k$ best
# candidates: an `<eos>` among the first $k$ finishes a hypothesis, and the $k$ best that
# are not `<eos>` go on (there are always $k$ of them among $2k$).

# %%
show_source(_beam_search)

# %% [markdown]
# ### The state follows the beams
#
# After a step, the surviving beams of a sentence may all descend from the same parent:
# the decoder's state of row $b k + j$ must become the state of row $b k + p_{b,j}$, where
# $p_{b,j}$ is the parent of beam $j$. Each state tensor is indexed along its batch axis.
# Which axis that is depends on the model: the LSTM's $(s, m)$ (PyTorch's `(h, c)`) are
# $[1, N, H]$ (the batch on axis 1), chapter 4's attention state holds $s$ and $m$ as
# $[N, H]$ and the precomputed keys $W_k h_s$ as $[N, S, H]$ (the batch on axis 0). Beam
# search finds it out once per call by comparing the state of $N$ rows with the state of
# one row: the axis whose size differs is the batch axis. So every model of the course
# decodes with beam search without any code of its own.

# %% tags=["hide-output"]
show_source(reorder_state)
show_source(batch_axes)

# %%
from seq2code.plan import CHAPTERS, plan_training

data = prepare_data(profile)
print(plan_training(CHAPTERS[6], data))  # what this chapter trains, and for how long

# %%
attn = train_model("attention", data=data)  # chapter 4's model, from the cache
print(f"attention model from the cache: {attn.from_cache}")
src, src_lens = on_model_device(attn.model, *pad([data.pairs["dev"][i][0] for i in range(3)]))
enc = attn.model.encode(src.repeat_interleave(4, 0), src_lens.repeat_interleave(4, 0))
state = attn.model.decoder.init_state(enc)
one = attn.model.decoder.init_state(attn.model.encode(src[:1], src_lens[:1]))
axes = batch_axes(state, one)
Table(["state field", "shape with N = 3 x 4 rows", "shape with one row", "batch axis"],
      [[name, list(getattr(state, name).shape), list(getattr(one, name).shape),
        getattr(axes, name)] for name in state._fields])

# %% [markdown]
# ## 6.3 The beams of one example
#
# Beam search with $k = 3$ on one dev sentence. Each row is a step (time runs down the
# page), each column one of the $k$ beams after it; a line joins a beam to the beam it
# extends. Red marks a hypothesis that ended with `<eos>` at that step, with its normalised
# score; the bold path is the winner.

# %%
def pick_example(pairs, lo=6, hi=12):
    """The first dev pair whose English has between lo and hi tokens."""
    return next(i for i, (s, _) in enumerate(pairs) if lo <= len(s) <= hi)


ex = pick_example(data.pairs["dev"])
src, src_lens = pad([data.pairs["dev"][ex][0]])
K = 3
traced = beam_search(attn.model, src, src_lens, K, attn.max_tgt_len, keep_history=True)
history, winner = traced.history, traced.hypotheses[0][0]
print("English:", data.dev[ex].nl)
print("reference:", data.dev[ex].code.strip())

# %% tags=["hide-input"]
# The drawing of the beams (the book folds this cell: open it to see how it is drawn).
def winner_path(history, winner):
    """(step, beam) of every node on the winner's path, from its last step back."""
    if winner.finished:
        end = next((t, parent) for t, step in enumerate(history) for b, parent, lp, _ in
                   step.finished if lp == winner.log_prob)
        t, k = end[0] - 1, end[1]
    else:
        t, k = len(history) - 1, next(k for k in range(K)
                                      if float(history[-1].log_probs[0, k]) == winner.log_prob)
    path = set()
    while t >= 0:
        path.add((t, k))
        k = int(history[t].parents[0, k])
        t -= 1
    return path, end if winner.finished else None


def whole(token, most=24):
    """A token as the figure writes it: whole, or (a long string literal) its first
    characters and "…"."""
    return token if len(token) <= most else token[:most - 1] + "…"


def plot_beams(history, winner, vocab, max_steps=14):
    """Steps down the page, beams across it: the column's width holds k whole tokens."""
    path, end = winner_path(history, winner)
    steps = min(len(history), max_steps)
    fig, ax = column_figure(row_height=0.42 * steps + 1.0)
    for t in range(steps):
        step = history[t]
        for k in range(K):
            lp = float(step.log_probs[0, k])
            if lp == float("-inf"):
                continue
            parent = int(step.parents[0, k])
            on_path = (t, k) in path
            if t > 0:
                ax.plot([parent, k], [t - 1, t], color="black" if on_path else "0.75",
                        lw=2.2 if on_path else 0.8, zorder=1)
            ax.text(k, t, whole(vocab.itos[int(step.tokens[0, k])]), ha="center",
                    va="center", fontsize=10, fontweight="bold" if on_path else "normal",
                    zorder=2, bbox={"boxstyle": "round", "fc": "white", "ec": "0.6"})
        for _, parent, _, score in step.finished:
            x = parent + 0.5  # between the parent's column and the next one
            is_winner = end is not None and (t, parent) == end
            if t > 0:
                ax.plot([parent, x], [t - 1, t], color="tab:red", lw=2.2 if is_winner else 0.8)
            ax.text(x, t, f"<eos> {score:.2f}", ha="center", va="center", fontsize=9,
                    color="tab:red", fontweight="bold" if is_winner else "normal", zorder=2,
                    bbox={"boxstyle": "round", "fc": "white", "ec": "tab:red", "lw": 0.5})
    ax.set_yticks(range(steps), [f"t={t + 1}" for t in range(steps)])
    ax.set_xticks(range(K), [f"beam {k}" for k in range(K)])
    ax.xaxis.tick_top()
    ax.set_ylim(steps - 0.5, -0.6)
    ax.set_xlim(-0.6, K - 0.1)
    ax.set_title(f"beam search, k = {K} (red: finished, with its normalised score)",
                 loc="left", pad=24)
    for side in ("bottom", "right"):
        ax.spines[side].set_visible(False)
    return fig


plot_beams(history, winner, attn.tgt_vocab)
plt.show()

# %%
Table(["kept hypothesis", "log P(Y | x)", "|Y|", "score ell(Y)", "ended with <eos>"],
      [[untokenize_code(attn.tgt_vocab.decode(h.tokens)), h.log_prob,
        len(h.tokens) + int(h.finished), h.score, h.finished] for h in traced.hypotheses[0]],
      formats=["code", ".3f", "d", ".3f", None])

# %% [markdown]
# ## 6.4 What beam search buys, and what it costs
#
# Chapter 4's attention model decodes the dev set with $k$ = 1 (greedy), 3, 5 and 10. The
# time covers decoding and scoring all the dev sentences, in batches of 128 sentences
# ($128 k$ rows).

# %% tags=["hide-input"]
beam_sizes = [1, 3, 5, 10]
dev_beam, speed = {}, {}
for k in beam_sizes:
    start = time.perf_counter()
    dev_beam[k] = evaluate_model(attn, data.dev, beam=k, use_cache=False)  # timed: decode
    speed[k] = len(data.dev) / (time.perf_counter() - start)
best_k = max(beam_sizes, key=lambda k: (dev_beam[k].metrics["exact_match"], -k))
Table(["k", "dev exact match", "canonical exact match", "BLEU", "parses",
       "sentences / s"],
      [[k, r.metrics["exact_match"], r.metrics["exact_match_canonical"],
        r.metrics["bleu"], r.metrics["parse_rate"], speed[k]]
       for k, r in dev_beam.items()],
      formats=["d", ".1%", ".1%", ".1f", ".1%", ".1f"])

# %% tags=["hide-input"]
fig, (left, right) = column_figure(2, row_height=2.7, sharex=True)
for metric, style, label in (("exact_match", "o-", "raw"),
                             ("exact_match_canonical", "s--", "canonical")):
    left.plot(beam_sizes, [100 * dev_beam[k].metrics[metric] for k in beam_sizes], style,
              label=label)
left.set(ylabel="dev exact match (%)", xticks=beam_sizes,
         title="Chapter 4's attention model: exact match ...")
left.legend()
right.plot(beam_sizes, [speed[k] for k in beam_sizes], "o-", color="tab:red")
right.set(xlabel="beam size k", ylabel="sentences per second", xticks=beam_sizes,
          ylim=(0, None), title="... and decoding speed, by beam size")
plt.show()

# %% tags=["hide-input"]
def pace(k):
    """How beam size k's decoding speed compares with greedy decoding's, in words (within
    10% of each other, timing noise, is "about as fast")."""
    ratio = speed[1] / speed[k]
    if ratio >= 1.1:
        return f"{ratio:.1f} times slower than greedy decoding"
    if ratio <= 1 / 1.1:
        return f"{1 / ratio:.1f} times faster than greedy decoding"
    return "about as fast as greedy decoding"


greedy_em = dev_beam[1].metrics["exact_match"]
if best_k > 1:
    dev_choice = (
        f"On dev, the beam size with the highest exact match is $k = {best_k}$: "
        f"{dev_beam[best_k].metrics['exact_match']:.1%} against {greedy_em:.1%} for "
        f"greedy decoding, at {speed[best_k]:.1f} sentences per second against "
        f"{speed[1]:.1f} ({pace(best_k)}).")
else:
    dev_choice = (
        f"On dev, no wider beam reaches a higher exact match than greedy decoding's "
        f"{greedy_em:.1%}, so greedy decoding ($k = 1$) is the beam size chosen on dev.")
display(Markdown(f"{dev_choice} $k = 10$ decodes {speed[10]:.1f} sentences per second "
                 f"({pace(10)}). Whether a difference in exact "
                 "match is more than noise is measured below, on dev and on test."))

# %% [markdown]
# The test set, read once for each beam size:

# %% tags=["hide-input"]
test_beam = {k: evaluate_model(attn, data.test, beam=k) for k in beam_sizes}
Table(["k", "test exact match", "canonical exact match", "BLEU", "parses"],
      [[k, r.metrics["exact_match"], r.metrics["exact_match_canonical"],
        r.metrics["bleu"], r.metrics["parse_rate"]] for k, r in test_beam.items()],
      formats=["d", ".1%", ".1%", ".1f", ".1%"])

# %% [markdown]
# ### More than noise?
#
# Exact match on a finite set of lines is noisy: two decoders can differ by a point or two
# by chance. Every beam size decodes the *same* lines, so the comparison is **paired**: line
# $i$ is right (1) or wrong (0) with beam search and with greedy decoding, and the
# difference of exact match is the mean of the per-line differences. Resampling the lines
# with replacement 2,000 times gives 2,000 such means; the middle 95% of them is the
# **paired-bootstrap interval** (`seq2code.significance.paired_bootstrap`). The course calls
# one decoder better than another only when that interval lies entirely on one side of 0.

# %% tags=["hide-input"]
from dataclasses import replace

from seq2code.significance import paired_bootstrap


def exact_per_line(report):
    """The report's raw exact match line by line: 1.0 (right) or 0.0, in example order."""
    return [float(p["exact"]) for p in report.predictions]


def paired(report_a, report_b):
    """The paired bootstrap of A's exact match minus B's, on the same lines."""
    assert ([p["index"] for p in report_a.predictions]
            == [p["index"] for p in report_b.predictions])  # the same lines, same order
    return paired_bootstrap(exact_per_line(report_a), exact_per_line(report_b))


def verdict(d, name_a, name_b):
    """``d.verdict(name_a, name_b)`` with the better model named first, so that the
    difference it quotes is that model's gain."""
    if d.high < 0:  # B is better: quote B - A
        d = replace(d, a=d.b, b=d.a, difference=-d.difference, low=-d.high, high=-d.low)
        name_a, name_b = name_b, name_a
    return d.verdict(name_a, name_b)


def interval(d):
    """'low to high' of a Difference, in percentage points of exact match."""
    return f"{100 * d.low:+.1f} to {100 * d.high:+.1f}"


splits = {"dev": dev_beam, "test": test_beam}
beam_vs_greedy = {(split, k): paired(reports[k], reports[1])
                  for split, reports in splits.items() for k in beam_sizes[1:]}
Table(["split", "k", "exact match, beam k", "greedy", "difference (points)",
       "95% interval (points)", "lines"],
      [[split, k, d.a, d.b, 100 * d.difference, interval(d), d.n]
       for (split, k), d in beam_vs_greedy.items()],
      formats=[None, "d", ".1%", ".1%", "+.1f", None, ",d"])

# %% [markdown]
# Does beam search find what it looks for? Under the model's own score $\ell(Y)$, the line
# that beam search returns should hardly ever be worse than greedy decoding's (it can be:
# greedy's prefix may fall out of the beam). The next cell scores both on the first 100 dev
# sentences, teacher-forced, with the same $\gamma$.

# %% tags=["hide-input"]
def score_lines(model, pairs, sequences, finished, alpha=1.0, batch_size=128):
    """ell(Y) = log P(Y | x) / |Y|^gamma (gamma is ``alpha``) of given outputs,
    teacher-forced."""
    scores = []
    for start in range(0, len(pairs), batch_size):
        src, src_lens = pad([s for s, _ in pairs[start:start + batch_size]])
        seqs = sequences[start:start + batch_size]
        ends = finished[start:start + batch_size]
        log_p = sequence_log_probs(model, src, src_lens, seqs, ends)  # [B]
        scores += [float(length_normalised(float(lp), len(y) + int(e), alpha))
                   for lp, y, e in zip(log_p, seqs, ends, strict=True)]
    return torch.tensor(scores)


def decode_all(model, pairs, k, max_len, batch_size=128):
    """Greedy (k = 0) or beam search over ``pairs``: the token lists, and whether each
    ended with <eos>."""
    tokens, ended = [], []
    for start in range(0, len(pairs), batch_size):
        src, src_lens = pad([s for s, _ in pairs[start:start + batch_size]])
        if k == 0:
            rows = greedy_decode(model, src, src_lens, max_len).tokens
            tokens += rows
            ended += [len(row) < max_len for row in rows]
        else:
            hyps = beam_search(model, src, src_lens, k, max_len).hypotheses
            tokens += [h[0].tokens for h in hyps]
            ended += [h[0].finished for h in hyps]
    return tokens, ended


check_pairs = data.pairs["dev"][:100]
greedy_tokens, greedy_ended = decode_all(attn.model, check_pairs, 0, attn.max_tgt_len)
beam1_tokens, _ = decode_all(attn.model, check_pairs, 1, attn.max_tgt_len)
beam5_tokens, beam5_ended = decode_all(attn.model, check_pairs, 5, attn.max_tgt_len)
greedy_scores = score_lines(attn.model, check_pairs, greedy_tokens, greedy_ended)
beam5_scores = score_lines(attn.model, check_pairs, beam5_tokens, beam5_ended)
same_as_greedy = sum(a == b for a, b in zip(beam1_tokens, greedy_tokens, strict=True))
better = (beam5_scores > greedy_scores + 1e-4).float().mean().item()
worse = (beam5_scores < greedy_scores - 1e-4).float().mean().item()
display(Markdown(
    f"On {len(check_pairs)} dev sentences, beam search with $k = 5$ finds a line with a "
    f"strictly better score than greedy decoding's for {better:.0%} of them, the same "
    f"line or an equal score for {1 - better - worse:.0%}, and a worse one for "
    f"{worse:.1%}. $k = 1$ returns greedy decoding's line for "
    f"{same_as_greedy / len(check_pairs):.0%} of them."))

# %% tags=["outcome", "remove-cell"]
assert beam1_tokens == greedy_tokens  # k = 1 is greedy decoding, exactly
assert worse <= 0.01, worse  # beam search's line scores at least greedy's under the model
assert better > 0.0, better

# %% [markdown]
# ### What the numbers show
#
# The model's own score of the lines that beam search finds, and the intervals of exact
# match above, put together:

# %% tags=["remove-input"]
VERDICTS = ("better than", "worse than", "within the noise of")


def verdict_of(d):
    """Which of VERDICTS the interval of a Difference (A minus B) supports."""
    return VERDICTS[0] if d.low > 0 else VERDICTS[1] if d.high < 0 else VERDICTS[2]


def and_list(items):
    """'3', '3 and 5', '3, 5 and 10'."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def beam_verdicts(split):
    """One clause per verdict: which wider beams are better than, worse than or within the
    noise of greedy decoding on ``split``."""
    clauses = []
    for relation in VERDICTS:
        ks = [k for k in beam_sizes[1:]
              if verdict_of(beam_vs_greedy[split, k]) == relation]
        if ks:
            clauses.append(f"$k$ = {and_list(ks)} {'is' if len(ks) == 1 else 'are'} "
                           f"{relation} greedy decoding")
    return ", ".join(clauses)


found = ("Beam search finds what it looks for: under the model's own score it returns "
         f"a better line than greedy decoding for {better:.0%} of the {len(check_pairs)} "
         f"dev sentences checked, and a worse one for {worse:.1%}. Exact match asks "
         "something else, whether the line is the reference. Against greedy decoding on "
         f"the same lines: on dev, {beam_verdicts('dev')}; on test, "
         f"{beam_verdicts('test')}.")
if best_k > 1:
    chosen = verdict(beam_vs_greedy["test", best_k], f"beam search with $k = {best_k}$",
                     "greedy decoding")
    found += (" The beam size chosen on dev was picked for its dev score, so its test "
              f"interval is the fair measure: {chosen}")
any_better = any(d.low > 0 for d in beam_vs_greedy.values())
any_worse = any(d.high < 0 for d in beam_vs_greedy.values())
if not any_better and not any_worse:
    found += (f" In the `{profile.name}` profile a wider beam buys no exact match that "
              f"stands out of the noise, and $k = 10$ decodes {pace(10)}.")
elif any_better and not any_worse:
    found += (f" In the `{profile.name}` profile the lines that a wider beam prefers "
              "are, where the interval says so, more often the reference.")
elif any_worse and not any_better:
    found += (f" In the `{profile.name}` profile the lines that the model scores higher "
              "are, where the interval says so, less often the reference: exact match "
              "drops.")
else:
    found += (f" The intervals point both ways, so the `{profile.name}` profile does not "
              "settle whether a wider beam helps.")
display(Markdown(found))

# %% tags=["outcome", "remove-cell"]
# The intervals are over the reports' own lines: each side's mean is the table's exact
# match.
for (split, k), d in beam_vs_greedy.items():
    beam_report, greedy_report = splits[split][k], splits[split][1]
    assert d.n == len(beam_report.predictions) == beam_report.metrics["n"], (split, k)
    assert abs(d.a - beam_report.metrics["exact_match"]) < 1e-9, (split, k)
    assert abs(d.b - greedy_report.metrics["exact_match"]) < 1e-9, (split, k)
    assert d.low <= d.difference <= d.high, d
    # The text names a beam better (worse) only when its interval lies above (below) 0.
    says = verdict_of(d)
    assert f"{says} greedy decoding" in beam_verdicts(split), (split, k)
    assert says != "better than" or d.low > 0, d
    assert says != "worse than" or d.high < 0, d
    assert says != "within the noise of" or d.low <= 0 <= d.high, d
# The dev sentence: the k chosen on dev has the highest dev exact match (ties: smaller k).
if best_k > 1:
    assert dev_beam[best_k].metrics["exact_match"] > greedy_em
else:
    assert all(dev_beam[k].metrics["exact_match"] <= greedy_em for k in beam_sizes)
# The closing sentence follows the intervals.
ups = [d for d in beam_vs_greedy.values() if d.low > 0]
downs = [d for d in beam_vs_greedy.values() if d.high < 0]
assert ("buys no exact match" in found) == (not ups and not downs)
assert ("more often the reference" in found) == bool(ups and not downs)
assert ("exact match drops" in found) == bool(downs and not ups)
assert ("point both ways" in found) == bool(ups and downs)

# %% [markdown]
# ## 6.5 A bidirectional encoder
#
# Chapter 4's encoder state $h_s$ has read $x_1 \dots x_s$ only: it knows nothing of the
# words after $x_s$. A **bidirectional** encoder runs a second LSTM from right to left and
# pairs the two states of each position:
#
# $$
# \overrightarrow{h}_s = \mathrm{LSTM}_{\rightarrow}(e(x_s), \overrightarrow{h}_{s-1}),
# \qquad
# \overleftarrow{h}_s = \mathrm{LSTM}_{\leftarrow}(e(x_s), \overleftarrow{h}_{s+1}),
# \qquad
# [\overrightarrow{h}_s; \overleftarrow{h}_s] \in \mathbb{R}^{2H}.
# $$
#
# Two shapes need care, and they are the common stumbling block.
#
# - **The states the decoder attends to** are now pairs $2H$ wide. The library projects
#   each back to $H$ with a linear map without bias,
#   $h_s = W_p [\overrightarrow{h}_s; \overleftarrow{h}_s]$, so that chapter 4's decoder
#   attends over $[B, S, H]$ states $h_s$ unchanged (and padding stays exactly zero).
# - **The decoder's first state.** `nn.LSTM(bidirectional=True)` returns its final states
#   as $h_n$ of shape $[2, B, H]$: the forward direction's state after $x_S$ and the
#   backward direction's state after $x_1$. The decoder wants one $[1, B, H]$. A **bridge**
#   concatenates the two and projects them with a tanh layer, for the state $s_0$ and for
#   the cell $m_0$ (PyTorch's `c`), from the two directions' final cells
#   $\overrightarrow{m}_S$ and $\overleftarrow{m}_1$:
#
# $$
# s_0 = \tanh\big(W_{bs} [\overrightarrow{h}_S; \overleftarrow{h}_1] + b_{bs}\big), \qquad
# m_0 = \tanh\big(W_{bm} [\overrightarrow{m}_S; \overleftarrow{m}_1] + b_{bm}\big).
# $$
#
# The shapes, step by step, on two dev sentences (an untrained model at the chapter's sizes):

# %%
bi_model = build_model("bidirectional", len(data.src_vocab), len(data.tgt_vocab),
                       profile.emb_dim, profile.hidden_dim)
encoder = bi_model.encoder
src, src_lens = pad([data.pairs["dev"][i][0] for i in (0, 1)])  # [B, S], [B]
with torch.no_grad():
    embedded = encoder.embedding(src)  # [B, S, E]
    packed = pack_padded_sequence(embedded, src_lens, batch_first=True, enforce_sorted=False)
    _, (h_n, c_n) = encoder.rnn(packed)  # [2, B, H] each
    enc_out = encoder(src, src_lens)
B, S = src.shape
H = encoder.rnn.hidden_size
Table(["tensor", "shape", "what it is"], [
    ["src", list(src.shape), "English ids, padded: [B, S]"],
    ["embedded", list(embedded.shape), "e(x_s): [B, S, E]"],
    ["BiLSTM outputs", [B, S, 2 * H], "[h_fwd_s; h_bwd_s]: [B, S, 2H]"],
    ["h_n, c_n", list(h_n.shape), "final (h, c), forward and backward: [2, B, H]"],
    ["[h_n[0]; h_n[1]]", list(torch.cat([h_n[0], h_n[1]], -1).shape), "concatenated: [B, 2H]"],
    ["s_0 = bridge_h(h_n)", list(enc_out.state[0].shape), "first state: [1, B, H]"],
    ["m_0 = bridge_c(c_n)", list(enc_out.state[1].shape), "first cell: [1, B, H]"],
    ["outputs h_s = W_p [h_fwd_s; h_bwd_s]", list(enc_out.outputs.shape),
     "what the decoder attends: [B, S, H]"],
], formats=[None, None, None])

# %% tags=["hide-output"]
show_source(Bridge)
show_source(BidirectionalLSTMEncoder.forward)

# %% [markdown]
# ### Why the source is packed
#
# The sentences of a batch have different lengths, and the shorter ones are padded at the
# end. A backward LSTM run over the padded tensor would start on the padding and reach the
# real words only after reading it: its states, and its final state $\overleftarrow{h}_1$,
# would depend on how much padding the batch happened to need. Packing
# (`pack_padded_sequence`) runs each direction over the real tokens only. The next cell
# appends five `<pad>` to a sentence and compares the backward final state, with and
# without packing.

# %%
lstm = nn.LSTM(8, 6, batch_first=True, bidirectional=True)
x = torch.randn(1, 4, 8)  # one sentence of 4 tokens: [1, S, E]
x_padded = torch.cat([x, torch.zeros(1, 5, 8)], dim=1)  # the same with 5 padding steps
length = torch.tensor([4])
with torch.no_grad():
    _, (h_real, _) = lstm(x)
    _, (h_unpacked, _) = lstm(x_padded)
    _, (h_packed, _) = lstm(pack_padded_sequence(x_padded, length, batch_first=True))
leak = (h_unpacked[1] - h_real[1]).abs().max().item()
no_leak = (h_packed[1] - h_real[1]).abs().max().item()
display(Markdown(f"Backward final state, largest change caused by the padding: "
                 f"{leak:.3f} without packing, {no_leak:.1e} with packing."))

# %% tags=["outcome", "remove-cell"]
assert leak > 1e-3 and no_leak < 1e-6
assert enc_out.outputs.shape == (B, S, H) and enc_out.state[0].shape == (1, B, H)
assert h_n.shape == (2, B, H)

# %% [markdown]
# The second direction and the bridges cost parameters:

# %%
sizes = (len(data.src_vocab), len(data.tgt_vocab), profile.emb_dim, profile.hidden_dim)
Table(["model", "parameters (count)", "parameters (formula)"],
      [[kind, count_parameters(build_model(kind, *sizes)), expected_parameters(kind, *sizes)]
       for kind in ("attention", "bidirectional")],
      formats=[None, ",d", ",d"])

# %% [markdown]
# ## 6.6 Training the bidirectional model
#
# Same data, same training strategy and budget as chapter 4; only the encoder changes. Its
# dev loss per epoch, beside chapter 4's model:

# %% tags=["hide-input"]
bi = train_model("bidirectional", data=data)
print(f"bidirectional model from the cache: {bi.from_cache}")
fig, ax = column_figure(row_height=3.2)
for name, trained in (("attention (chapter 4)", attn), ("bidirectional", bi)):
    epochs = range(1, len(trained.history.dev_loss) + 1)
    ax.plot(epochs, trained.history.dev_loss, "o-", label=name)
ax.set(xlabel="epoch", ylabel="dev loss (cross-entropy per token)")
whole_epochs(ax)
ax.legend()
plt.show()

# %% tags=["outcome", "remove-cell"]
assert bi.history.dev_loss[-1] < bi.history.dev_loss[0]  # the bidirectional model trains
assert bi.history.train_loss[-1] < bi.history.train_loss[0]

# %% [markdown]
# Both models on dev and test, decoded greedily and, when section 6.4 chose a beam wider than
# 1 on dev, with that beam:

# %% tags=["hide-input"]
results = {"attention, greedy": (attn, 1), "bidirectional, greedy": (bi, 1)}
if best_k > 1:  # the beam size chosen on dev for chapter 4's model
    results.update({f"attention, beam {best_k}": (attn, best_k),
                    f"bidirectional, beam {best_k}": (bi, best_k)})
reports = {}
for name, (trained, k) in results.items():
    if trained is attn:
        reports[name] = (dev_beam[k], test_beam[k])  # computed above
    else:
        reports[name] = (evaluate_model(trained, data.dev, beam=k),
                         evaluate_model(trained, data.test, beam=k))
Table(["model, decoding", "split", "exact match", "canonical exact match", "BLEU",
       "parses"],
      [[name, split, r.metrics["exact_match"], r.metrics["exact_match_canonical"],
        r.metrics["bleu"], r.metrics["parse_rate"]]
       for name, pair in reports.items()
       for split, r in zip(("dev", "test"), pair, strict=True)],
      formats=[None, None, ".1%", ".1%", ".1f", ".1%"])

# %% [markdown]
# Both models decode the same lines, so the comparison is paired, as in section 6.4: the
# bidirectional model's exact match minus chapter 4's, line by line, with the
# paired-bootstrap interval of the difference.

# %% tags=["hide-input"]
decodings = {"greedy": "greedy decoding"}
if best_k > 1:
    decodings[f"beam {best_k}"] = f"beam search ($k = {best_k}$)"
bi_vs_attn = {(dec, split): paired(reports[f"bidirectional, {dec}"][i],
                                   reports[f"attention, {dec}"][i])
              for dec in decodings for i, split in enumerate(("dev", "test"))}
Table(["decoding", "split", "bidirectional", "attention (chapter 4)",
       "difference (points)", "95% interval (points)", "lines"],
      [[dec, split, d.a, d.b, 100 * d.difference, interval(d), d.n]
       for (dec, split), d in bi_vs_attn.items()],
      formats=[None, None, ".1%", ".1%", "+.1f", None, ",d"])

# %% tags=["remove-input"]
NAMES = ("the bidirectional model", "chapter 4's model")
bi_better = [key for key, d in bi_vs_attn.items() if d.low > 0]
bi_worse = [key for key, d in bi_vs_attn.items() if d.high < 0]
bi_text = " ".join(f"With {decodings[dec]}, on {split}: {verdict(d, *NAMES)}"
                   for (dec, split), d in bi_vs_attn.items())
in_profile = f" In the `{profile.name}` profile"
if not bi_better and not bi_worse:
    bi_text += (f"{in_profile}, reading the English in both directions changes exact "
                "match by no more than the noise of these lines.")
elif len(bi_better) == len(bi_vs_attn):
    bi_text += (f"{in_profile} the bidirectional encoder is better on every split and "
                "decoding compared.")
elif not bi_worse:
    bi_text += (f"{in_profile} the bidirectional encoder is better where the interval "
                "says so, and within the noise elsewhere.")
elif len(bi_worse) == len(bi_vs_attn):
    bi_text += (f"{in_profile} the bidirectional encoder is worse on every split and "
                "decoding compared.")
elif not bi_better:
    bi_text += (f"{in_profile} the bidirectional encoder is worse where the interval "
                "says so, and within the noise elsewhere.")
else:
    bi_text += (f" The intervals point both ways: the `{profile.name}` profile does not "
                "settle which encoder is better.")
bi_minutes = sum(bi.history.epoch_seconds) / 60
attn_minutes = sum(attn.history.epoch_seconds) / 60
bi_text += (f" The bidirectional model trained in {bi_minutes:.1f} minutes, chapter 4's "
            f"in {attn_minutes:.1f}.")
display(Markdown(bi_text))

# %% tags=["outcome", "remove-cell"]
# The intervals are over the reports' own lines, and the text follows every interval.
for (dec, split), d in bi_vs_attn.items():
    bi_report, attn_report = (reports[f"{name}, {dec}"][("dev", "test").index(split)]
                              for name in ("bidirectional", "attention"))
    assert d.n == len(bi_report.predictions) == bi_report.metrics["n"], (dec, split)
    assert abs(d.a - bi_report.metrics["exact_match"]) < 1e-9, (dec, split)
    assert abs(d.b - attn_report.metrics["exact_match"]) < 1e-9, (dec, split)
    assert d.low <= d.difference <= d.high, d
    words = verdict(d, *NAMES)
    assert words in bi_text
    assert ("within the noise" in words) == (not d.clear), (words, d)
    assert not words.startswith(f"{NAMES[0]} is better") or d.low > 0, (words, d)
    assert not words.startswith(f"{NAMES[1]} is better") or d.high < 0, (words, d)
assert ("no more than the noise" in bi_text) == (not bi_better and not bi_worse)
assert ("better on every split" in bi_text) == (len(bi_better) == len(bi_vs_attn))
assert ("worse on every split" in bi_text) == (len(bi_worse) == len(bi_vs_attn))
assert ("point both ways" in bi_text) == bool(bi_better and bi_worse)
assert all(bi_vs_attn[key].low > 0 for key in bi_better)
assert all(bi_vs_attn[key].high < 0 for key in bi_worse)

# %% [markdown]
# ## 6.7 Exercises
#
# Each exercise cell checks your answer when you run it. The solutions follow in hidden
# cells.
#
# ### Exercise 1: the length-normalised score
#
# Write `normalised_scores(log_probs, lengths, alpha)`: given the log-probabilities
# $\log P(Y \mid x)$ of $N$ hypotheses (a float tensor $[N]$) and their lengths $|Y|$
# (`<eos>` counted, an integer tensor $[N]$), return their scores
# $\ell(Y) = \log P(Y \mid x) / |Y|^\gamma$ as a tensor $[N]$ (the argument `alpha` is the
# length exponent $\gamma$).
#
# <details><summary>Hint</summary>
# No loop is needed: arithmetic on tensors of the same shape works position by position, so
# the formula can be written on the whole tensors as it stands, with Python's operators for
# division and powers.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch06 import check_normalised_scores


def normalised_scores(log_probs, lengths, alpha):
    # your code here
    raise NotImplementedError


check_normalised_scores(normalised_scores)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
from seq2code.exercises.ch06 import check_normalised_scores


def normalised_scores(log_probs, lengths, alpha):
    """ell(Y) = log P(Y | x) / |Y|^gamma (gamma is ``alpha``), elementwise:
    [N], [N] -> [N]."""
    return log_probs / lengths.float() ** alpha


check_normalised_scores(normalised_scores, strict=True)

# %% [markdown]
# ### Exercise 2: bridge the two directions
#
# Write `bridge(h_n, W, b)`: `h_n` is a bidirectional LSTM's final hidden state
# $[2, B, H]$ (`h_n[0]` the forward direction, `h_n[1]` the backward one), `W` is
# $[H, 2H]$ and `b` is $[H]$. Return the decoder's first state
# $s_0 = \tanh(W [\overrightarrow{h}_S; \overleftarrow{h}_1] + b)$ with the shape the
# decoder's LSTM expects, $[1, B, H]$.
#
# <details><summary>Hint</summary>
# Put the two directions side by side: each <code>h_n[d]</code> is [B, H], and W expects one
# [2H] row per sentence, forward half first. Apply W to that batch of rows as in chapter 2,
# add b, take the tanh, and give the result the leading axis of size 1 that the decoder's
# LSTM expects. Do not <code>view</code> h_n as [B, 2H]: its first axis is the direction,
# not the batch.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch06 import check_bridge


def bridge(h_n, W, b):
    # your code here
    raise NotImplementedError


check_bridge(bridge)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import torch

from seq2code.exercises.ch06 import check_bridge


def bridge(h_n, W, b):
    """[2, B, H] (forward, backward) -> [1, B, H]: tanh(W [h_fwd; h_bwd] + b)."""
    both = torch.cat([h_n[0], h_n[1]], dim=-1)  # [B, 2H]
    return torch.tanh(both @ W.T + b).unsqueeze(0)  # [1, B, H]


check_bridge(bridge, strict=True)

# %% [markdown]
# ### Exercise 3: the state follows the surviving beams
#
# An LSTM decoder's state is a pair $(s, m)$ (PyTorch's `(h, c)`), each $[1, N, H]$ with
# $N = B k$ rows: row $b k + j$ is beam $j$ of sentence $b$. After a step, `parents`
# $[B, k]$ says which beam of the same sentence each new beam extends. Write
# `reorder_state(state, parents, K)`, where `K` is the beam width $k$, returning the new
# pair in which row $b k + j$ is the old row $b k + $ `parents[b, j]`.
#
# <details><summary>Hint</summary>
# First compute, for every new beam, the number of the old row it continues: the rows of
# sentence b start at b k, and <code>parents</code> gives the offset within them. A column of
# the b's broadcast against <code>parents</code> gives all B k numbers at once; flatten them
# in row order. Then pick those rows of h and of c (<code>index_select</code>), along the
# axis that holds the N rows: which one is it in [1, N, H]?
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch06 import check_reorder_state


def reorder_state(state, parents, K):
    # your code here
    raise NotImplementedError


check_reorder_state(reorder_state)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import torch

from seq2code.exercises.ch06 import check_reorder_state


def reorder_state(state, parents, K):
    """Row b K + j of the new (h, c) (PyTorch's names for (s, m)) is row
    b K + parents[b, j] of the old one (K is the beam width k)."""
    h, c = state  # [1, N, H] each
    rows = (torch.arange(parents.size(0)).unsqueeze(1) * K + parents).view(-1)  # [N]
    return h.index_select(1, rows), c.index_select(1, rows)


check_reorder_state(reorder_state, strict=True)

# %% [markdown]
# ### Exercise 4: one step of beam search
#
# Write `beam_step(log_probs, scores, K)`, the heart of a step of beam search for $B$
# sentences with $k$ beams each (`K` is $k$). `log_probs` $[B k, V]$ holds
# $\log p(w \mid y_{<t}, x)$ for every row (row $b k + j$ is beam $j$ of sentence $b$) and
# every token $w$; `scores` $[B, k]$ holds each beam's running $\log P(y_{<t} \mid x)$
# ($-\infty$ for a beam not alive yet). Return three $[B, k]$ tensors that describe the
# $k$ best extensions of each sentence, best first: their scores
# $\log P(y_{<t}\, w \mid x)$, the beam each extends (its parent, from 0 to $k - 1$ within
# the sentence) and the token $w$. (`<eos>` needs no special care here.)
#
# <details><summary>Hint</summary>
# A sentence has k V candidate extensions, and any of them may survive: a strong beam may
# have several children and a weak one none. Give every candidate its full score, lay out
# each sentence's candidates in one row, and pick the k largest of each row. Section 6.2
# says which beam and which token candidate r of such a row stands for.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch06 import check_beam_step


def beam_step(log_probs, scores, K):
    # your code here
    raise NotImplementedError


check_beam_step(beam_step)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
from seq2code.exercises.ch06 import check_beam_step


def beam_step(log_probs, scores, K):
    """[B K, V] log p(w | beam), [B, K] log P(beam) -> the K best extensions, [B, K]."""
    B, V = scores.size(0), log_probs.size(-1)
    total = scores.unsqueeze(-1) + log_probs.view(B, K, V)  # [B, K, V]  log P(y_<t w | x)
    top, ids = total.view(B, K * V).topk(K, dim=-1)  # [B, K] each, best first
    return top, ids // V, ids % V  # scores, parent beams, tokens


check_beam_step(beam_step, strict=True)

# %% [markdown]
# ### Exercise 5: the final states of a two-layer bidirectional LSTM
#
# The library's encoder has one layer. With `nn.LSTM(E, H, num_layers=2,
# bidirectional=True)` the final states come as one $h_n$ of shape $[2 \cdot 2, B, H]$,
# two directions for each of the two layers. Write `final_states(output, h_n, lengths)`,
# which returns the last layer's final states, forward and backward, side by side:
# $[\overrightarrow{h}_S; \overleftarrow{h}_1]$ of the top layer, $[B, 2H]$. `output`
# $[B, S, 2H]$ is the LSTM's padded output (run packed, so zeros at the padding) and
# `lengths` $[B]$ the real lengths; you may not need all three arguments. The check runs
# LSTMs of two and of three layers on rows of different lengths.
#
# <details><summary>Hint</summary>
# PyTorch stacks h_n layer by layer: the state of layer l in direction d (0 forward,
# 1 backward) is at index 2 l + d. Which two indices hold the last layer's, however many
# layers there are? And why would the last column of <code>output</code> not do, for a row
# shorter than the batch, or for the direction that reads from right to left?
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch06 import check_final_states


def final_states(output, h_n, lengths):
    # your code here
    raise NotImplementedError


check_final_states(final_states)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import torch

from seq2code.exercises.ch06 import check_final_states


def final_states(output, h_n, lengths):
    """[2 layers, B, H] -> [B, 2H]: the last layer's forward and backward final states."""
    return torch.cat([h_n[-2], h_n[-1]], dim=-1)  # [B, 2H]  top [h_fwd_S; h_bwd_1]


check_final_states(final_states, strict=True)

# %% [markdown]
# ## Summary
#
# - Greedy decoding commits to the most likely token at every step; the most likely line
#   may start with a less likely token.
# - Beam search keeps the $k$ best hypotheses by cumulative log-probability, sets finished
#   ones aside until no live beam can beat them, and returns the best under
#   $\ell(Y) = \log P(Y \mid x) / |Y|^\gamma$; with $k = 1$ it is greedy decoding.
# - All sentences and beams of a batch decode together as $B k$ rows; after each step the
#   decoder's state is reordered along each tensor's batch axis to follow the survivors.
# - The tables above show what a wider beam changes on Django and the plot what it costs in
#   speed.
# - A bidirectional encoder reads the English both ways; its final states $[2, B, H]$ are
#   bridged into the decoder's $[1, B, H]$ with a tanh layer, its $2H$-wide states
#   projected back to $H$, and packing keeps padding out of the backward direction.
# - Chapter 7 adds the copy mechanism and coverage, chapter 8 multi-head attention and a
#   Transformer.
