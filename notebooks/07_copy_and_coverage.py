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
# # 7. Copying words from the description, and coverage
#
# Chapter 4's attention model finds the English word that a code token repeats, and then
# cannot write it when the word is rare: its output layer only knows the code vocabulary, so
# a name that occurs twice in the training data comes out as `<unk>`. Django copies most of
# its names and string literals from the description. The **pointer-generator** (See, Liu
# and Manning, 2017) lets the decoder choose at every step between *generating* a token from
# the vocabulary and *copying* a word of this example's English, pointed at by its attention.
# **Coverage** (Tu et al., 2016) then tells the attention where it has already looked.
#
# **What you will learn**
#
# - the generation probability $p_\text{gen}$, the extended vocabulary, and the final
#   distribution that mixes generating and copying;
# - how to compute the log of that mixture stably, and why the course's training loop,
#   greedy decoding and beam search need no change for it;
# - the final distribution from scratch on a tiny example, checked against the library;
# - what $p_\text{gen}$ does along a real example, beside its attention;
# - the coverage vector, its place in the attention score, and the coverage loss;
# - what copying does to exact match on Django, against chapter 4's attention model.

# %% tags=["hide-input"]
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from seq2code.batching import make_batches, pad
from seq2code.decoding import greedy_decode
from seq2code.experiment import evaluate_model, model_pairs, prepare_data, train_model
from seq2code.models import build_model, count_parameters
from seq2code.models.copy import (
    CopyDecoder,
    extend_source,
    extend_target,
    final_distribution,
    gold_log_probs,
)
from seq2code.models.coverage import CoverageAttention, coverage_loss, repeated_attention
from seq2code.plots import (
    column_figure,
    heatmap_height,
    token_heatmap,
    use_book_style,
    whole_epochs,
)
from seq2code.profiles import get_profile
from seq2code.show import show_source
from seq2code.significance import paired_bootstrap
from seq2code.tables import Table
from seq2code.tokens import canonicalize, code_token_kind

torch.manual_seed(0)
use_book_style()  # figures drawn for the book's column, their labels at the text's size
profile = get_profile()
print(profile.describe())

# %% [markdown]
# ## 7.1 What the vocabulary cannot write
#
# The code vocabulary holds the tokens seen at least `min_freq` times in the training lines.
# How many dev reference tokens fall outside it, and how many of those could be copied, since
# the English description contains them?

# %%
data = prepare_data(profile)
vocab = data.tgt_vocab

# %% tags=["remove-input"]
dev_pairs = list(zip(data.nl_tokens["dev"], data.code_tokens["dev"], strict=True))
n_tokens = sum(len(code) for _, code in dev_pairs)
unknown = sum(tok not in vocab for _, code in dev_pairs for tok in code)
copyable = sum(tok not in vocab and tok in nl for nl, code in dev_pairs for tok in code)
lines_unknown = sum(any(tok not in vocab for tok in code) for _, code in dev_pairs)
lines_fixed = sum(any(tok not in vocab for tok in code)
                  and all(tok in vocab or tok in nl for tok in code)
                  for nl, code in dev_pairs)
display(Markdown(
    f"Of the {n_tokens:,} dev reference tokens, {unknown:,} ({unknown / n_tokens:.1%}) "
    f"are not in the code vocabulary of {len(vocab):,} tokens, and {copyable:,} of those "
    f"({copyable / max(unknown, 1):.0%}) occur in their English description. "
    f"{lines_unknown} of the {len(dev_pairs)} dev lines "
    f"({lines_unknown / len(dev_pairs):.1%}) hold an unknown token, so a model that can "
    "only generate gets them wrong whatever it learns; copying makes "
    f"{lines_fixed} of them writable."))

# %% [markdown]
# ## 7.2 The pointer-generator
#
# Take chapter 4's decoder at step $t$: the context $c_t = \sum_s \alpha_{t,s} h_s$, the
# decoder state $s_t$, the input $e(y_{t-1})$ and the vocabulary distribution
# $P_\text{vocab} = \mathrm{softmax}(W_o [s_t; c_t] + b_o)$. A single logistic unit decides
# how much to generate:
#
# $$
# g = w_\text{gen}^\top [c_t; s_t; e(y_{t-1})] + b_\text{gen}, \qquad
# p_\text{gen} = \sigma(g) \in (0, 1).
# $$
#
# With probability $p_\text{gen}$ the token comes from the vocabulary; otherwise it is a word
# of the English, chosen with the attention weights as the pointer:
#
# $$
# P(w) = p_\text{gen}\, P_\text{vocab}(w)
#        + (1 - p_\text{gen}) \sum_{s:\, x_s = w} \alpha_{t,s}.
# $$
#
# A word that occurs twice in the English gets the sum of both weights. $w$ ranges over the
# **extended vocabulary**: the $V$ code tokens, then one slot per source position. A source
# word that the code vocabulary holds adds its attention to its own id; one it lacks gets the
# id $V + i$ of its first position $i$. So an example's extended ids depend on its English
# only, a whole batch shares one width $V + S$, and decoding maps $V + i$ back to the $i$-th
# English word. The targets use the same ids: a code token outside the vocabulary that the
# English contains becomes $V + i$; only a token that is in neither stays `<unk>`.
#
# Like TranX, the copy model reads and writes the **canonical form**: the English's quoted
# strings are behind placeholders `_STR:0_`, `_STR:1_`, ..., which the code vocabulary lacks,
# so the model copies them, and they are mapped back to the literals after decoding. Here is
# a dev example whose code copies a word the vocabulary lacks:

# %%
def first_copy_example(data, split="dev", max_len=14):
    """The first example whose canonical code holds a token outside the vocabulary that
    its English contains."""
    for k, (nl, code) in enumerate(zip(data.nl_tokens[split], data.code_tokens[split],
                                       strict=True)):
        nl_c, code_c, _ = canonicalize(nl, code)
        copies = any(t not in data.tgt_vocab and t in nl_c for t in code_c)
        if len(nl_c) <= max_len and copies:
            return k, nl_c, code_c
    raise LookupError("no example copies a word")


k_example, nl_c, code_c = first_copy_example(data)
src_ext = extend_source(nl_c, vocab)
tgt_ext = extend_target(code_c, nl_c, vocab)[1:-1]  # without <sos> and <eos>
print("English:", " ".join(nl_c))
print("code:   ", " ".join(code_c))
Table(["side", "token", "extended id", "meaning"],
      [["English", tok, i, "vocabulary id" if i < len(vocab) else f"V + {i - len(vocab)}"]
       for tok, i in zip(nl_c, src_ext, strict=True)]
      + [["code", tok, i, "<unk>" if i == 3 else "vocabulary id" if i < len(vocab)
          else f"copy position {i - len(vocab)}"]
         for tok, i in zip(code_c, tgt_ext, strict=True)])

# %% [markdown]
# ## 7.3 The final distribution from scratch
#
# Written the obvious way, the mixture is a loop over the extended vocabulary. On a tiny
# example (a vocabulary of 6 tokens, an English of 4 words whose first and third are the
# same unknown word, so both get the id $6 + 0$):

# %%
torch.manual_seed(0)
V, S = 6, 4
vocab_logits = torch.randn(1, V)  # W_o [s_t; c_t] + b_o
attention = torch.softmax(torch.randn(1, S), dim=-1)  # alpha_t
tiny_ext = torch.tensor([[6, 4, 6, 9]])  # word 0 = word 2 (unknown), word 1 is token 4
gen_logit = torch.tensor([[0.4]])  # p_gen = sigmoid(0.4)

p_gen = torch.sigmoid(gen_logit)[0, 0]
p_vocab = torch.softmax(vocab_logits, dim=-1)[0]
by_hand = torch.zeros(V + S)
for w in range(V + S):
    generate = p_gen * p_vocab[w] if w < V else 0.0
    copy = sum(attention[0, i] for i in range(S) if tiny_ext[0, i] == w)
    by_hand[w] = generate + (1 - p_gen) * copy

library = final_distribution(vocab_logits, attention, tiny_ext, gen_logit).exp()[0]
torch.testing.assert_close(library, by_hand)
print("P(w) =", np.round(by_hand.numpy(), 4))
print(f"sum = {float(by_hand.sum()):.6f}; p_gen = {float(p_gen):.3f}")

# %% tags=["outcome", "remove-cell"]
assert abs(float(library.sum()) - 1.0) < 1e-5
assert float(library[6]) > float(library[7])  # the repeated word collects both weights
torch.testing.assert_close(library[6], (1 - p_gen) * (attention[0, 0] + attention[0, 2]))

# %% [markdown]
# The library computes the same numbers in log space, because training needs $\log P(y_t)$
# and a product of small probabilities underflows:
#
# $$
# \log P(w) = \operatorname{logaddexp}\big(\log \sigma(g) + \log P_\text{vocab}(w),\;
#             \log \sigma(-g) + \log \textstyle\sum_{s: x_s = w} \alpha_{t,s}\big),
# $$
#
# with $g$ the gate's logit ($\log(1 - \sigma(g)) = \log \sigma(-g)$ exactly) and
# `log_softmax` for $\log P_\text{vocab}$. The copy mass gets a floor of $10^{-30}$ before
# its log, so that a slot no word points to has a finite log-probability and a defined
# gradient.
#
# The copy decoder returns these **log-probabilities** where the other decoders return
# logits. That is the whole change to the shared interface: cross-entropy applies a
# `log_softmax` to its input, and the `log_softmax` of normalised log-probabilities is the
# identity, so the course's loss becomes exactly the negative log-likelihood of the mixture;
# `argmax` (greedy decoding) and beam search read log-probabilities anyway. An extended id
# fed back as the next input is read as `<unk>`. The source goes in as one id tensor that
# packs the English id and the extended id of every position (`x + V_src * src_ext`), so that
# batching and the training loop see an ordinary `[B, S]` tensor.

# %% tags=["hide-output"]
show_source(final_distribution)

# %% [markdown]
# Training needs less: the loss reads $\log P(y_t)$ of the gold token only, so the library
# computes the mixture at $y_t$ alone, without the distribution over all $V + S$ ids
# (`gold_log_probs`, about a fifth of a training step saved on Django). On the tiny example,
# for every possible gold id:

# %%
golds = torch.arange(V + S)  # every extended id as the gold token
only_gold = gold_log_probs(vocab_logits.expand(V + S, -1), attention.expand(V + S, -1),
                           tiny_ext.expand(V + S, -1), gen_logit[0].expand(V + S), golds)
whole = final_distribution(vocab_logits, attention, tiny_ext, gen_logit)[0]  # [V + S]
torch.testing.assert_close(only_gold, whole)
print("log P(y) at each gold id y:", np.round(only_gold.numpy(), 3))

# %% [markdown]
# The copy decoder is chapter 4's decoder with the gate added to its step (chapter 4's step
# is called as it is, then $g$ is computed from $c_t$, $s_t$ and $e(y_{t-1})$) and the
# mixture as
# its output layer:

# %%
show_source(CopyDecoder.step)

# %% [markdown]
# ## 7.4 Training the copy model
#
# The same data, budget and training strategy as chapter 4 (`train_model` reads chapter 4's
# model from the cache). The copy model adds $p_\text{gen}$'s weights, $2H + E + 1$ numbers:

# %%
from seq2code.plan import CHAPTERS, plan_training

print(plan_training(CHAPTERS[7], data))  # what this chapter trains, and for how long

# %%
attn = train_model("attention", data=data)
copy = train_model("copy", data=data)
for name, trained in [("attention", attn), ("copy", copy)]:
    print(f"{name:9s} {count_parameters(trained.model):>10,} parameters, "
          f"{sum(trained.history.epoch_seconds):6.0f} s of training")

# %% tags=["hide-input"]
fig, axes = column_figure(2, row_height=2.7, sharex=True)
for name, trained in [("attention", attn), ("copy", copy)]:
    epochs = range(1, len(trained.history.dev_exact_match) + 1)
    axes[0].plot(epochs, trained.history.dev_loss, marker="o", label=name)
    axes[1].plot(epochs, trained.history.dev_exact_match, marker="o", label=name)
axes[0].set(ylabel="dev loss (nats per token)", title="Dev loss")
axes[1].set(xlabel="epoch", ylabel="dev exact match (ids)", title="Dev exact match")
whole_epochs(*axes)
for ax in axes:
    ax.legend()
plt.show()

# %% [markdown]
# ## 7.5 Generate or copy? $p_\text{gen}$ along an example
#
# Greedy decoding of a dev example with the copy model, keeping $p_\text{gen}$ at every
# step: on the left the attention (one row per generated token), on the right $p_\text{gen}$
# of the same step. Where the model copies, $p_\text{gen}$ should be low and the attention
# row sharp.

# %% tags=["hide-input"]
def copy_decode(trained, nl_tokens):
    """Greedy decoding of one English token list with a copy model: the English as the
    model reads it, the code tokens it writes, their attention [n, S] and p_gen [n]."""
    model = trained.model
    view, mapping = model.source_view(nl_tokens[: trained.max_src_len])
    src, lens = pad([model.encode_source(view, trained.src_vocab, trained.tgt_vocab)])
    result = greedy_decode(model, src, lens, trained.max_tgt_len,
                           record=lambda step: model.decoder.gate(step.features).cpu())
    ids, weights = result.tokens[0], result.attention[0]  # [n], [n, S]
    gates = torch.cat(result.records)[: len(ids)]  # [n] p_gen of the steps that wrote ids
    tokens = [model.token(i, view, trained.tgt_vocab) for i in ids]
    return view, tokens, ids, weights, gates


def candidates(data, split="dev", low=6, high=14):
    return [k for k, nl in enumerate(data.nl_tokens[split]) if low <= len(nl) <= high]


def copies_a_word(k):
    """Does the copy model's greedy decoding of dev example k copy a word?"""
    return any(i >= len(vocab) for i in copy_decode(copy, data.nl_tokens["dev"][k])[2])


shown = next((k for k in candidates(data) if copies_a_word(k)), candidates(data)[0])
view, tokens, ids, weights, gates = copy_decode(copy, data.nl_tokens["dev"][shown])
fig, (ax, bx) = column_figure(1, 2, row_height=heatmap_height(len(tokens)), sharey=True,
                              gridspec_kw={"width_ratios": [3, 1]})
token_heatmap(ax, weights, view, [f"{t} (copied)" if i >= len(vocab) else t
                                  for t, i in zip(tokens, ids, strict=True)])
ax.set(xlabel="English token (source)", ylabel="generated code token",
       title=f"attention, dev example {data.dev[shown].index}")
bx.barh(range(len(tokens)), gates.numpy(), color="tab:blue")
bx.set(xlim=(0, 1), xticks=[0, 0.5, 1], xlabel="$p_{gen}$", title="generate (1)\nor copy (0)")
plt.show()

# %% [markdown]
# Over the whole dev set, teacher-forced so that every step is a reference step: the mean
# $p_\text{gen}$ at the steps whose reference token can only be copied (its extended id is
# $V + i$), at the steps that write a Python keyword (`if`, `def`, `return`, ...) and at all
# other steps.

# %% tags=["hide-input"]
@torch.no_grad()
def p_gen_by_target(trained, data, split="dev"):
    """Mean p_gen (teacher forcing) over steps whose target is copied-only, a keyword, or
    anything else."""
    model = trained.model
    size = len(trained.tgt_vocab)
    sums, counts = {}, {}
    for batch in make_batches(model_pairs(model, data, split), batch_size=128):
        gate = model.gates(batch.src, batch.src_lens, batch.tgt_in)  # [B, T] p_gen
        for row, tgt in zip(gate, batch.tgt_out, strict=True):  # [T], [T]
            for g, y in zip(row.tolist(), tgt.tolist(), strict=True):
                if y == 0:
                    continue
                if y >= size:
                    kind = "copied"
                elif code_token_kind(trained.tgt_vocab.itos[y]) == "keyword":
                    kind = "keyword"
                else:
                    kind = "other"
                sums[kind] = sums.get(kind, 0.0) + g
                counts[kind] = counts.get(kind, 0) + 1
    return {kind: (sums[kind] / counts[kind], counts[kind]) for kind in sums}


gate_means = p_gen_by_target(copy, data)
Table(["target token", "steps", "mean p_gen"],
      [[kind, n, mean] for kind, (mean, n) in sorted(gate_means.items())],
      formats=[None, ",d", ".3f"])

# %% tags=["outcome", "remove-cell"]
# The model learns to copy where only copying can write the token.
assert gate_means["copied"][0] < gate_means["keyword"][0], gate_means

# %% [markdown]
# ## 7.6 Coverage
#
# Attention has no memory: nothing stops it from looking at the same word at several steps
# (and writing its code twice) while another word is never looked at. **Coverage** keeps the
# sum of the attention of the steps so far,
#
# $$
# \kappa_t = \sum_{t' < t} \alpha_{t'}, \qquad \kappa_1 = 0,
# $$
#
# and feeds it into the score, so that the attention can see how much each English word has
# already received (the query is $s_{t-1}$, as in chapter 4):
#
# $$
# e_{t,s} = v^\top \tanh\big(W_q s_{t-1} + W_k h_s + w_\kappa \kappa_{t,s}
#                             + b_\text{attn}\big).
# $$
#
# See et al. write the coverage $c^t$; here $c_t$ is the context, so coverage is
# $\kappa_t$ (the library's weight `w_c` is $w_\kappa$).
#
# Training adds the **coverage loss**, weighted by $\lambda$ (1.0, as See et al.):
#
# $$
# \mathcal{L}_t = -\log P(y_t) + \lambda \sum_s \min(\alpha_{t,s}, \kappa_{t,s}).
# $$
#
# The minimum is 0 where a word gets attention for the first time and grows only when
# attention returns to a word already covered; it never exceeds 1 per step. Kind `coverage`
# is the copy model with coverage, as in See et al.

# %%
show_source(CoverageAttention.coverage_scores)

# %% tags=["hide-output"]
show_source(coverage_loss)

# %%
cover = train_model("coverage", data=data)
print(f"coverage  {count_parameters(cover.model):>10,} parameters, "
      f"{sum(cover.history.epoch_seconds):6.0f} s of training")

# %% [markdown]
# How much attention returns to words already covered? For every dev example we decode
# greedily and add up, over the English positions, the attention beyond 1 that each position
# received in total, $\sum_s \max(0, \sum_t \alpha_{t,s} - 1)$ (0 when no word gets more
# than one step's worth), and the coverage loss of the decoding,
# $\sum_t \sum_s \min(\alpha_{t,s}, \kappa_{t,s})$ (both 0 for an example whose decoding
# is empty).

# %% tags=["hide-input"]
@torch.no_grad()
def attention_repeats(trained, data, split="dev"):
    """Per example, in the split's order: the repeated attention and the coverage loss
    (summed over the steps) of its greedy decoding, two lists of floats."""
    model = trained.model.eval()
    pairs = model_pairs(model, data, split)
    repeated, covered = [], []
    for batch in make_batches(pairs, batch_size=128, by_length=False):
        result = greedy_decode(model, batch.src, batch.src_lens, trained.max_tgt_len)
        for weights in result.attention:  # [n, S] alpha_t of the n steps
            steps = weights.size(0)
            every_step = torch.ones(1, steps, dtype=torch.bool)  # [1, n]
            repeated.append(repeated_attention(weights) if steps else 0.0)
            covered.append(float(coverage_loss(weights[None], every_step)) * steps
                           if steps else 0.0)
    return repeated, covered


repeats = {name: attention_repeats(t, data) for name, t in
           [("attention", attn), ("copy", copy), ("copy + coverage", cover)]}
Table(["model", "repeated attention per example", "coverage loss per example"],
      [[name, np.mean(r), np.mean(c)] for name, (r, c) in repeats.items()],
      formats=[None, ".3f", ".3f"])

# %% [markdown]
# Is the difference between the copy model with and without coverage more than noise? Both
# decode the same dev examples, so the comparison is paired: the paired bootstrap of
# chapter 6 (section 6.4), here over each example's coverage loss instead of its exact
# match.

# %% tags=["remove-input"]
less_repeated = paired_bootstrap(repeats["copy + coverage"][1], repeats["copy"][1])
display(Markdown(
    "Coverage loss per dev example, copy + coverage minus copy: "
    f"{less_repeated.difference:+.3f} (95% interval {less_repeated.low:+.3f} to "
    f"{less_repeated.high:+.3f}, {less_repeated.n:,} examples). "
    + ("Coverage reduces the attention that returns to covered words: the interval lies "
       "below 0." if less_repeated.high < 0 else
       "Coverage increases it: the interval lies above 0." if less_repeated.low > 0 else
       "The interval holds 0: in this profile coverage does not measurably change it.")))

# %% tags=["outcome", "remove-cell"]
# Coverage reduces repeated attention against the same copy model without it, beyond the
# noise (the summary says so).
assert len(repeats["copy"][1]) == len(repeats["copy + coverage"][1]) == len(data.dev)
assert less_repeated.high < 0, less_repeated

# %% [markdown]
# The same dev example as in section 7.5, decoded by the copy model without and with
# coverage:

# %% tags=["hide-input"]
for name, trained in [("copy", copy), ("copy + coverage", cover)]:  # one figure each
    view, tokens_k, ids_k, weights_k, _ = copy_decode(trained,
                                                      data.nl_tokens["dev"][shown])
    fig, ax = column_figure(row_height=heatmap_height(len(tokens_k)))
    token_heatmap(ax, weights_k, view, tokens_k)
    ax.set(xlabel="English token", ylabel="generated code token",
           title=f"{name}: repeated attention {repeated_attention(weights_k):.2f}")
    plt.show()

# %% [markdown]
# ## 7.7 Results on dev and test
#
# Exact match on raw tokens and on the canonical form (quoted strings that the English
# contains behind placeholders, the form in which published Django results are scored),
# BLEU (weak on code: a near miss scores high) and the share of outputs that parse. Models
# are chosen on dev; the test set is read once per model, here.

# %% tags=["hide-input"]
trained_models = {"attention (chapter 4)": attn, "copy": copy, "copy + coverage": cover}
dev_reports = {name: evaluate_model(t, data.dev) for name, t in trained_models.items()}
test_reports = {name: evaluate_model(t, data.test) for name, t in trained_models.items()}
rows = []
for name in trained_models:
    for split, reports in [("dev", dev_reports), ("test", test_reports)]:
        m = reports[name].metrics
        rows.append([name, split, m["n"], m["exact_match"], m["exact_match_canonical"],
                     m["bleu"], m["parse_rate"]])
Table(["model", "split", "examples", "exact match (raw)", "exact match (canonical)",
       "BLEU", "parses"], rows, formats=[None, None, ",d", ".1%", ".1%", ".1f", ".1%"])

# %% [markdown]
# The models decode the same lines, so each comparison is paired, as in chapter 6 (section
# 6.4): line by line, exact match (raw tokens, 1 or 0) of one model minus the other's, with
# the paired-bootstrap interval of the mean difference. A model is called better only when
# the interval lies above 0.

# %% tags=["hide-input"]
def exact_per_line(report):
    """The report's raw exact match line by line: 1.0 (right) or 0.0, in example order."""
    return [float(p["exact"]) for p in report.predictions]


COMPARISONS = [("copy", "attention (chapter 4)"), ("copy + coverage", "copy")]
split_reports = {"dev": dev_reports, "test": test_reports}
differences = {}
for a, b in COMPARISONS:
    for split, reports in split_reports.items():
        assert ([p["index"] for p in reports[a].predictions]
                == [p["index"] for p in reports[b].predictions])  # same lines, same order
        differences[a, b, split] = paired_bootstrap(exact_per_line(reports[a]),
                                                    exact_per_line(reports[b]))
Table(["A", "B", "split", "exact match A", "exact match B", "A - B (points)",
       "95% interval (points)", "lines"],
      [[a, b, split, d.a, d.b, 100 * d.difference,
        f"{100 * d.low:+.1f} to {100 * d.high:+.1f}", d.n]
       for (a, b, split), d in differences.items()],
      formats=[None, None, None, ".1%", ".1%", "+.1f", None, ",d"])

# %% tags=["remove-input"]
NAMES = {"attention (chapter 4)": "chapter 4's attention model", "copy": "the copy model",
         "copy + coverage": "the copy model with coverage"}


def sentence(a, b, split):
    """The verdict of one comparison, in words that follow its interval; the better model
    is named first, so that the difference quoted is its gain."""
    d, name_a, name_b = differences[a, b, split], NAMES[a], NAMES[b]
    if d.high < 0:  # B is better: quote B - A
        d = replace(d, a=d.b, b=d.a, difference=-d.difference, low=-d.high, high=-d.low)
        name_a, name_b = name_b, name_a
    return d.verdict(name_a, name_b)


copy_text = " ".join(f"On {split}, {sentence(a, b, split)}"
                     for a, b in COMPARISONS for split in split_reports)
display(Markdown(
    f"In the `{profile.name}` profile (raw exact match, greedy decoding): {copy_text}"))

# %% tags=["remove-input"]
full = get_profile("full")
display(Markdown(
    f"These numbers come from the `{profile.name}` profile that this page ran in, and so "
    "do those of chapter 8's closing table (every model of the course, trained by its "
    f"chapter). The `full` profile (all of Django, up to {full.epochs} epochs, stopping "
    f"after {full.early_stop} epochs without a better dev exact match) has its test "
    "results, measured outside the build, in the README's table \"Measured in the full "
    "profile\" and in the table of measured figures at the end of chapter 8, with the "
    "commands that produce each row."))

# %% tags=["outcome", "remove-cell"]
# The intervals are over the reports' own lines, and the text follows each of them.
for (a, b, split), d in differences.items():
    reports = dev_reports if split == "dev" else test_reports
    assert d.n == len(reports[a].predictions) == reports[a].metrics["n"], (a, b, split)
    assert abs(d.a - reports[a].metrics["exact_match"]) < 1e-9, (a, split)
    assert abs(d.b - reports[b].metrics["exact_match"]) < 1e-9, (b, split)
    assert d.low <= d.difference <= d.high, d
    words = sentence(a, b, split)
    assert words in copy_text
    assert ("within the noise" in words) == (not d.clear), (words, d)
    assert not words.startswith(f"{NAMES[a]} is better") or d.low > 0, (words, d)
    assert not words.startswith(f"{NAMES[b]} is better") or d.high < 0, (words, d)
# Copying is the chapter's lesson: its gain over chapter 4's model stands clear of the
# noise on dev, in every profile.
assert differences["copy", "attention (chapter 4)", "dev"].low > 0, differences

# %% [markdown]
# A few dev lines that the copy model gets right and chapter 4's model does not:

# %% tags=["hide-input"]
attn_by_index = {p["index"]: p for p in dev_reports["attention (chapter 4)"].predictions}
wins = [p for p in dev_reports["copy"].predictions
        if p["exact"] and not attn_by_index[p["index"]]["exact"]][:5]
Table(["English", "attention (chapter 4)", "copy"],
      [[p["nl"], attn_by_index[p["index"]]["prediction"], p["prediction"]] for p in wins])

# %% [markdown]
# ## 7.8 Exercises
#
# Replace `raise NotImplementedError` with your answer and run the cell: the check under it
# tries your function on small cases and prints a tick, or a hint that names the mistake.
#
# ### Exercise 1: extended target ids
#
# Write `extend_target(code_tokens, src_tokens, vocab)`: one id per code token (no `<sos>`
# or `<eos>`): `vocab.stoi[token]` when the vocabulary holds the token, else
# `len(vocab) + i` with `i` the *first* position of the token in `src_tokens`, else the id of
# `<unk>`, 3.
#
# <details><summary>Hint</summary>
# Walk the source once and remember, in a dict, the position where you first met each token;
# a later position of the same token must not replace it. Then each code token takes the
# first of the three cases that applies, in the order the task lists them.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch07 import check_extend_target


def extend_target(code_tokens, src_tokens, vocab):
    # your code here
    raise NotImplementedError


check_extend_target(extend_target)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
from seq2code.exercises.ch07 import check_extend_target


def extend_target(code_tokens, src_tokens, vocab):
    """Extended ids: vocabulary id, else V + first source position, else <unk> (3)."""
    first = {}
    for i, token in enumerate(src_tokens):
        first.setdefault(token, i)
    return [vocab.stoi[t] if t in vocab else len(vocab) + first[t] if t in first else 3
            for t in code_tokens]


check_extend_target(extend_target, strict=True)

# %% [markdown]
# ### Exercise 2: the final distribution
#
# Write `mixture(p_vocab, attention, src_ext, p_gen)`: from $P_\text{vocab}$ `[B, V]`, the
# attention $\alpha_t$ `[B, S]`, the extended ids of the source words `src_ext` `[B, S]`
# (each below $V + S$) and $p_\text{gen}$ `[B, 1]`, return
# $P(w) = p_\text{gen} P_\text{vocab}(w) + (1 - p_\text{gen}) \sum_{s: x_s = w} \alpha_{t,s}$
# for every extended id, shape `[B, V + S]` (in probabilities; no logs needed here).
#
# <details><summary>Hint</summary>
# Two parts. The generated part, p_gen P_vocab, covers V ids: widen it to V + S with zeros
# (<code>torch.nn.functional.pad</code> pads the last axis). The copy part,
# (1 - p_gen) alpha_t, must be added at the ids that <code>src_ext</code> gives, and a word
# at two source positions must receive the sum of both weights: look for a scatter that adds
# rather than overwrites.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch07 import check_mixture


def mixture(p_vocab, attention, src_ext, p_gen):
    # your code here
    raise NotImplementedError


check_mixture(mixture)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import torch

from seq2code.exercises.ch07 import check_mixture


def mixture(p_vocab, attention, src_ext, p_gen):
    """P(w) [B, V + S] = p_gen P_vocab(w) + (1 - p_gen) sum_{s: x_s = w} alpha_{t,s}."""
    S = attention.size(1)
    generate = torch.nn.functional.pad(p_gen * p_vocab, (0, S))  # [B, V + S]
    return generate.scatter_add(1, src_ext, (1 - p_gen) * attention)


check_mixture(mixture, strict=True)

# %% [markdown]
# ### Exercise 3: the coverage loss
#
# Write `coverage_loss(attention)` for one decoding: from the attention weights `[T, S]` of
# its $T$ steps, return $\sum_t \sum_s \min(\alpha_{t,s}, \kappa_{t,s})$ with the coverage
# $\kappa_t = \sum_{t' < t} \alpha_{t'}$, as a 0-dimensional tensor.
#
# <details><summary>Hint</summary>
# The coverage of step t sums the attention of the steps <em>before</em> t. A cumulative sum
# over the steps (along which axis?) includes step t itself: how do you take it out again?
# The loss is then an elementwise minimum of two [T, S] tensors, summed over everything.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch07 import check_coverage_loss


def coverage_loss(attention):
    # your code here
    raise NotImplementedError


check_coverage_loss(coverage_loss)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import torch

from seq2code.exercises.ch07 import check_coverage_loss


def coverage_loss(attention):
    """sum_t sum_s min(alpha_{t,s}, kappa_{t,s}) for attention [T, S],
    kappa_t = sum_{t' < t} alpha_{t'}."""
    coverage = attention.cumsum(0) - attention  # [T, S]  kappa_t: the steps before t
    return torch.minimum(attention, coverage).sum()


check_coverage_loss(coverage_loss, strict=True)

# %% [markdown]
# ## Summary
#
# - The pointer-generator mixes two distributions with a learned gate:
#   $P(w) = p_\text{gen} P_\text{vocab}(w) + (1 - p_\text{gen}) \sum_{s: x_s = w} \alpha_{t,s}$,
#   over an extended vocabulary that adds one slot per English position; a rare name or a
#   string placeholder becomes writable because the English holds it.
# - Computed in log space (`logaddexp` of the two parts, `logsigmoid` for the gate), the
#   mixture's log-probabilities take the place of logits: the loss, greedy decoding and beam
#   search need no change.
# - $p_\text{gen}$ is measurable: it drops at the steps that copy and stays high at
#   keywords, and the attention row of a copying step points at the word it copies.
# - Coverage feeds the running sum of past attention into the score and penalises attending
#   again, $\sum_s \min(\alpha_{t,s}, \kappa_{t,s})$; it reduces the attention that
#   returns to covered words, beyond the noise (section 7.6). What it does to exact match,
#   section 7.7's interval says.
# - Copying's gain in exact match over chapter 4's attention model stands clear of the noise
#   of the dev set (section 7.7, with paired-bootstrap intervals). Chapter 8's closing table
#   holds every model in the profile that the chapters run in; the `full` profile's results,
#   measured outside the build, are in the README's table "Measured in the full profile" and
#   in chapter 8's table of measured figures.
