# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# @title Setup: on Colab this installs seq2code; locally it does nothing
import importlib.util
import os
import subprocess
import sys

SEQ2CODE_SOURCE = os.environ.get("SEQ2CODE_SOURCE", "git+https://github.com/seq2code/seq2code.git")
if "google.colab" in sys.modules or importlib.util.find_spec("seq2code") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", SEQ2CODE_SOURCE], check=True)

# %% [markdown]
# # 3. The LSTM encoder-decoder
#
# The vanilla RNN of chapter 2 squeezes the whole English description into its last hidden
# state, and it writes that state by multiplying the previous one, step after step, by the
# same matrix and squashing it through $\tanh$. What the first words said is overwritten by
# what the last words say, and during training the gradient that should reach the first
# words fades on its way back. The **long short-term memory** (LSTM) of Hochreiter and
# Schmidhuber (1997) keeps a second state, the *cell*, that is changed only by adding to it
# and by scaling it with learned gates. This chapter swaps the RNN cell for an LSTM cell and
# changes nothing else: same data, same training loop, same budget, same decoding.
#
# **What you will learn**
#
# - the forget, input and output gates of an LSTM as equations, and what each one decides;
# - an LSTM cell written from scratch, gate by gate, that computes exactly what `nn.LSTM`
#   computes;
# - how little the library changes to go from the RNN to the LSTM encoder-decoder;
# - how far back along the input the gradient of the loss reaches in the RNN and in the
#   LSTM, and what that does to exact match on long descriptions;
# - what teacher forcing trades off, and what *exposure bias* looks like in training curves.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from torch import nn

from seq2code.analysis import encoder_state_gradients, token_accuracy
from seq2code.batching import make_batches
from seq2code.experiment import evaluate_model, prepare_data, train_model, translate
from seq2code.models import build_model
from seq2code.models.base import count_parameters
from seq2code.models.lstm import LSTMDecoder, LSTMEncoder
from seq2code.models.rnn import RNNEncoder
from seq2code.profiles import get_profile
from seq2code.show import show_source
from seq2code.tables import Table

torch.manual_seed(0)
profile = get_profile()
print(profile)

# %% [markdown]
# ## 3.1 Three gates and a cell
#
# At step $t$ the LSTM reads the input $x_t$ (an embedded token) and the previous hidden
# state $h_{t-1}$. From the two it computes three **gates**, vectors of numbers between 0
# and 1 (the logistic sigmoid $\sigma$), and one **candidate** $g_t$:
#
# $$
# \begin{aligned}
# f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) && \text{forget gate}\\
# i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) && \text{input gate}\\
# o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) && \text{output gate}\\
# g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) && \text{candidate}
# \end{aligned}
# $$
#
# and then updates its two states, the cell $c_t$ and the hidden state $h_t$ ($\odot$ is the
# element-wise product):
#
# $$
# c_t = f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t).
# $$
#
# Each gate decides one thing, separately for each of the $H$ units of the state:
#
# - the **forget gate** $f_t$ decides how much of the old cell $c_{t-1}$ to *keep*: near 1
#   the unit remembers, near 0 it is wiped;
# - the **input gate** $i_t$ decides how much of the new candidate $g_t$ to *write* into the
#   cell: near 0 the current token leaves the unit alone;
# - the **output gate** $o_t$ decides how much of the cell to *show* in $h_t$, the state that
#   the next step, the decoder and the output layer read. A unit can hold a fact in its cell
#   for many steps without exposing it.
#
# The cell update is a *sum*, not a matrix product through a squashing function. Along the
# cell, $\partial c_t / \partial c_{t-1} = \operatorname{diag}(f_t)$ (plus terms through the
# gates): where the forget gate stays near 1, the gradient flows back unchanged over many
# steps, where the RNN's $\partial h_t / \partial h_{t-1} = \operatorname{diag}(1 - h_t^2)\,
# W_h$ shrinks it a little at every step.
#
# ## 3.2 An LSTM cell from scratch
#
# Here are the equations as code, one gate per line. PyTorch stores the four input matrices
# stacked in one `weight_ih` of shape $[4H, E]$ in the order $i, f, g, o$ (and likewise
# `weight_hh`, `bias_ih`, `bias_hh`); the function cuts them apart so that each gate reads
# like its equation.

# %%
def lstm_cell(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """One LSTM step with explicit gates.

    Args:
        x: ``[B, E]`` the input x_t.
        h_prev: ``[B, H]`` the hidden state h_{t-1}.
        c_prev: ``[B, H]`` the cell c_{t-1}.
        weight_ih: ``[4H, E]`` W_ii, W_if, W_ig, W_io stacked (PyTorch's order).
        weight_hh: ``[4H, H]`` W_hi, W_hf, W_hg, W_ho stacked.
        bias_ih, bias_hh: ``[4H]`` the biases, stacked the same way.

    Returns:
        ``(h_t, c_t)``, each ``[B, H]``.
    """
    W_ii, W_if, W_ig, W_io = weight_ih.chunk(4)  # each [H, E]
    W_hi, W_hf, W_hg, W_ho = weight_hh.chunk(4)  # each [H, H]
    b_ii, b_if, b_ig, b_io = bias_ih.chunk(4)  # each [H]
    b_hi, b_hf, b_hg, b_ho = bias_hh.chunk(4)  # each [H]
    f = torch.sigmoid(x @ W_if.T + b_if + h_prev @ W_hf.T + b_hf)  # [B, H] forget gate f_t
    i = torch.sigmoid(x @ W_ii.T + b_ii + h_prev @ W_hi.T + b_hi)  # [B, H] input gate i_t
    o = torch.sigmoid(x @ W_io.T + b_io + h_prev @ W_ho.T + b_ho)  # [B, H] output gate o_t
    g = torch.tanh(x @ W_ig.T + b_ig + h_prev @ W_hg.T + b_hg)  # [B, H] candidate g_t
    c = f * c_prev + i * g  # [B, H] c_t = f_t * c_{t-1} + i_t * g_t
    h = o * torch.tanh(c)  # [B, H] h_t = o_t * tanh(c_t)
    return h, c


def lstm_from_scratch(xs, lstm: nn.LSTM):
    """Run :func:`lstm_cell` over ``xs`` ``[B, S, E]`` with the weights of ``lstm``
    (one layer, ``batch_first``), from zero states. Returns ``[B, S, H]`` h_1..h_S and the
    final ``(h_S, c_S)``, each ``[B, H]``."""
    batch = xs.size(0)
    h = xs.new_zeros(batch, lstm.hidden_size)  # [B, H] h_0
    c = xs.new_zeros(batch, lstm.hidden_size)  # [B, H] c_0
    outputs = []
    for t in range(xs.size(1)):
        h, c = lstm_cell(xs[:, t], h, c, lstm.weight_ih_l0, lstm.weight_hh_l0,
                         lstm.bias_ih_l0, lstm.bias_hh_l0)
        outputs.append(h)
    return torch.stack(outputs, dim=1), (h, c)


# %% [markdown]
# The check: an `nn.LSTM` with random weights, and our loop run with *the same* weights on
# the same random inputs. Outputs, final hidden state and final cell must agree to rounding.

# %%
reference_lstm = nn.LSTM(input_size=8, hidden_size=16, batch_first=True)
xs = torch.randn(3, 7, 8)  # [B=3, S=7, E=8]
with torch.no_grad():
    ours, (h_ours, c_ours) = lstm_from_scratch(xs, reference_lstm)
    theirs, (h_theirs, c_theirs) = reference_lstm(xs)  # [3, 7, 16], ([1, 3, 16], [1, 3, 16])
torch.testing.assert_close(ours, theirs)
torch.testing.assert_close(h_ours, h_theirs[0])
torch.testing.assert_close(c_ours, c_theirs[0])
print("largest difference from nn.LSTM:", (ours - theirs).abs().max().item())

# %% tags=["outcome", "remove-cell"]
torch.testing.assert_close(ours, theirs)
torch.testing.assert_close(c_ours, c_theirs[0])
assert (ours - theirs).abs().max().item() < 1e-5

# %% [markdown]
# The loop is for reading; `nn.LSTM` runs the same function in one fused kernel over the
# whole sequence (on a GPU, cuDNN's), which is what the library uses.
#
# ## 3.3 The library's LSTM encoder and decoder
#
# The chapter 2 models are written once, with the recurrent layer as a class attribute.
# The LSTM versions change that attribute and nothing else:

# %%
show_source(LSTMEncoder)

# %%
show_source(LSTMDecoder)

# %% [markdown]
# Everything else is inherited. The encoder packs the padded batch so that each row's final
# state is the state after its last real token; with `nn.LSTM` that final "state" is the
# pair $(h_S, c_S)$, and the decoder starts from the pair, so the cell's memory crosses from
# the encoder to the decoder as well:

# %%
show_source(RNNEncoder.forward)

# %% [markdown]
# An LSTM layer has four weight matrices where the RNN has one, so the same sizes cost more
# parameters. On a toy vocabulary of 60 tokens per side, with the course's embedding size
# 128 and hidden size 256:

# %%
sizes = [[kind, count_parameters(build_model(kind, 60, 60))] for kind in ("rnn", "lstm")]
Table(["model (60 + 60 tokens)", "parameters"], sizes, formats=[None, ",d"])

# %% tags=["outcome", "remove-cell"]
assert 800_000 < sizes[1][1] < 840_000  # issue 4: about 820K
assert sizes[1][1] > 3 * sizes[0][1]

# %% [markdown]
# ## 3.4 Training on the same data and budget as chapter 2
#
# `train_model` trains with the course's strategy (Adam, teacher forcing 0.5, gradient
# clipping; see chapter 2) and keeps the epoch with the best dev exact match. The RNN is
# chapter 2's model, with the same arguments, so it comes from the model cache when
# chapter 2 ran first in this profile.

# %%
data = prepare_data(profile)
rnn = train_model("rnn", data=data)
lstm = train_model("lstm", data=data)
print(f"RNN from the cache: {rnn.from_cache}; LSTM from the cache: {lstm.from_cache}")

# %%
reports = {"RNN": evaluate_model(rnn, data.dev), "LSTM": evaluate_model(lstm, data.dev)}
Table(["model", "dev exact match", "canonical exact match", "BLEU", "parses"],
      [[name, r.metrics["exact_match"], r.metrics["exact_match_canonical"], r.metrics["bleu"],
        r.metrics["parse_rate"]] for name, r in reports.items()],
      formats=[None, ".1%", ".1%", ".1f", ".1%"])

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for name, trained in (("RNN", rnn), ("LSTM", lstm)):
    epochs = np.arange(1, len(trained.history.dev_loss) + 1)
    axes[0].plot(epochs, trained.history.dev_loss, marker="o", label=name)
    axes[1].plot(epochs, trained.history.dev_exact_match, marker="o", label=name)
axes[0].set(xlabel="epoch", ylabel="dev loss (cross-entropy per token)",
            title="Dev loss (teacher forcing 1.0)")
axes[1].set(xlabel="epoch", ylabel="dev exact match", title="Dev exact match (greedy)")
for ax in axes:
    ax.legend()
plt.tight_layout()
plt.show()

# %% tags=["outcome", "remove-cell"]
rnn_em = reports["RNN"].metrics["exact_match"]
lstm_em = reports["LSTM"].metrics["exact_match"]
if profile.name == "ci":
    # The ci budget (a few thousand pairs, a few epochs) is too small to separate the two
    # models: check only that the LSTM trained (its loss fell) and decodes.
    assert lstm.history.train_loss[-1] < lstm.history.train_loss[0]
    assert all(isinstance(p["prediction"], str) for p in reports["LSTM"].predictions)
    assert len(reports["LSTM"].predictions) == len(data.dev)
else:
    assert lstm_em > rnn_em, (lstm_em, rnn_em)
    assert min(lstm.history.dev_loss) < min(rnn.history.dev_loss)

# %% [markdown]
# The table is the chapter's main result. With the budget of the book's profile the LSTM's
# exact match is higher than the RNN's, and its dev loss falls lower. (The `ci` profile that
# the test suite runs trains for seconds on a small cut of the data, too little to tell the
# two apart.)
#
# A few dev descriptions, translated by both models (`translate` tokenizes the English,
# decodes greedily and writes the tokens back as source):

# %%
examples = reports["LSTM"].samples(4, exact=True) + reports["LSTM"].samples(2, exact=False)
texts = [ex["nl"] for ex in examples]
Table(["English", "reference", "RNN", "LSTM"],
      [[ex["nl"], ex["reference"], r, ll] for ex, r, ll in
       zip(examples, translate(rnn, texts), translate(lstm, texts), strict=True)],
      formats=[None, "code", "code", "code"])

# %% [markdown]
# ## 3.5 How far back the gradient reaches
#
# `encoder_state_gradients` (chapter 2) measures, for each source position $s$, the norm
# $\lVert \partial L / \partial h_s \rVert$ of the gradient of each example's loss with
# respect to the encoder's hidden state, averaged over a batch. To compare positions
# fairly we take dev examples that all have the same English length $S$, so that position
# 1 is the first word and position $S$ the last word of every row. We call the
# **reach** of a model the ratio
#
# $$
# \text{reach} = \frac{\lVert \partial L / \partial h_1 \rVert}
#                     {\lVert \partial L / \partial h_S \rVert},
# $$
#
# the share of the gradient at the last word that is still there at the first word. A
# reach near 1 means the first word gets as much training signal as the last one.

# %%
src_lengths = np.array([len(src) for src, _ in data.pairs["dev"]])
S = max(range(12, 25), key=lambda n: int((src_lengths == n).sum()))  # commonest of 12..24
same_length = [pair for pair in data.pairs["dev"] if len(pair[0]) == S]
probe = make_batches(same_length, batch_size=len(same_length), by_length=False)[0]
grads = {"RNN": encoder_state_gradients(rnn.model, probe),
         "LSTM": encoder_state_gradients(lstm.model, probe)}  # each [S]
reach = {name: (g[0] / g[-1]).item() for name, g in grads.items()}
print(f"{len(same_length)} dev examples of {S} English tokens")
Table(["model", "gradient at the first word", "gradient at the last word", "reach"],
      [[name, g[0].item(), g[-1].item(), reach[name]] for name, g in grads.items()],
      formats=[None, ".2e", ".2e", ".3f"])

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
positions = np.arange(1, S + 1)
for name, g in grads.items():
    ax.plot(positions, (g / g[-1]).numpy(), marker="o", label=name)
ax.set_yscale("log")
ax.set(xlabel="source position s (1 = first English token)",
       ylabel=r"$\|\partial L/\partial h_s\|$ / value at $s=S$",
       title=f"Gradient along the input ({S}-token descriptions, dev)")
ax.legend()
plt.tight_layout()
plt.show()

# %% tags=["outcome", "remove-cell"]
assert torch.isfinite(grads["RNN"]).all() and torch.isfinite(grads["LSTM"]).all()
assert len(grads["LSTM"]) == len(grads["RNN"]) == S
# "Further back": a larger share of the last word's gradient reaches the first word. This
# holds already in the ci profile (by a factor of about 50 when written), so it is asserted
# in every profile.
assert reach["LSTM"] > reach["RNN"], reach

# %% [markdown]
# Read the plot from the right: at the last word both curves start at 1. Moving left, each
# step back multiplies the RNN's gradient by its Jacobian $\operatorname{diag}(1 - h^2) W_h$;
# the LSTM's can pass through the cell, scaled only by forget gates that can stay near 1.
# The reach printed above is the value at the left end of each curve: the LSTM's is the
# larger one, so its first words get a larger share of the training signal.
#
# ## 3.6 Exact match by input length
#
# If the RNN's encoder forgets the start of a long description, its exact match should fall
# with the length of the English faster than the LSTM's. `evaluate_model` breaks every
# metric down by input length:

# %%
buckets = {name: r.metrics["by_length"] for name, r in reports.items()}
Table(["English tokens", "examples", "RNN exact match", "LSTM exact match"],
      [[b_r["bucket"], b_r["n"], b_r["exact_match"], b_l["exact_match"]]
       for b_r, b_l in zip(buckets["RNN"], buckets["LSTM"], strict=True)],
      formats=[None, "d", ".1%", ".1%"])

# %%
labels = [b["bucket"] for b in buckets["RNN"]]
x = np.arange(len(labels))
fig, ax = plt.subplots(figsize=(7, 3.5))
for k, name in enumerate(buckets):
    ax.bar(x + (k - 0.5) * 0.4, [b["exact_match"] for b in buckets[name]], width=0.4,
           label=name)
ax.set_xticks(x, labels)
ax.set(xlabel="length of the English description (tokens)", ylabel="dev exact match",
       title="Exact match by input length")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Short descriptions (`return x`, `else :`) are the easiest for both: the first bucket has
# the highest exact match of either model. The length buckets show where
# the difference between the two models lies; the longest buckets hold few examples, so
# their shares move a lot with a handful of lines.

# %% tags=["outcome", "remove-cell"]
for name in buckets:
    shares = [b["exact_match"] for b in buckets[name] if b["n"] > 0]
    assert shares[0] == max(shares), (name, shares)

# %% [markdown]
# ## 3.7 Teacher forcing: 0, 0.5 and 1.0
#
# During training the decoder has to be fed a previous token $y_{t-1}$ at every step. With
# **teacher forcing** it gets the reference token; without it, its own greedy guess. The
# course's default is a coin per step that picks the reference with probability 0.5. We
# train two more LSTMs, identical except for that probability, 0 (always its own guesses)
# and 1.0 (always the reference); the model with 0.5 is the LSTM above.

# %%
tf_models = {0.0: train_model("lstm", data=data, train_options={"teacher_forcing": 0.0}),
             0.5: lstm,
             1.0: train_model("lstm", data=data, train_options={"teacher_forcing": 1.0})}
tf_reports = {ratio: (reports["LSTM"] if ratio == 0.5 else evaluate_model(m, data.dev))
              for ratio, m in tf_models.items()}
Table(["teacher forcing", "final train loss", "best dev loss", "dev exact match"],
      [[ratio, m.history.train_loss[-1], min(m.history.dev_loss),
        tf_reports[ratio].metrics["exact_match"]] for ratio, m in tf_models.items()],
      formats=[".1f", ".3f", ".3f", ".1%"])

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
for ratio, m in tf_models.items():
    epochs = np.arange(1, len(m.history.train_loss) + 1)
    label = f"teacher forcing {ratio}"
    axes[0].plot(epochs, m.history.train_loss, marker="o", label=label)
    axes[1].plot(epochs, m.history.dev_loss, marker="o", label=label)
    axes[2].plot(epochs, m.history.dev_exact_match, marker="o", label=label)
axes[0].set(xlabel="epoch", ylabel="train loss", title="Train loss (with its own feeding)")
axes[1].set(xlabel="epoch", ylabel="dev loss", title="Dev loss (fed the reference)")
axes[2].set(xlabel="epoch", ylabel="dev exact match", title="Dev exact match (own guesses)")
for ax in axes:
    ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The three panels measure three different things.
#
# - The **train loss** is measured with the model's own feeding. With teacher forcing 1.0
#   every step sees the reference, so its train loss is the lowest: it never has to recover
#   from a mistake. With 0 every step after the first error reads a wrong token, and the
#   loss is the highest of the three.
# - The **dev loss** is always measured with the reference fed in (teacher forcing 1.0),
#   exactly the situation the fully teacher-forced model was trained in.
# - The **dev exact match** is measured by greedy decoding, where the model reads its *own*
#   previous guesses, exactly the situation a fully teacher-forced model never saw in
#   training.
#
# This mismatch between training (reference prefixes) and use (its own prefixes) is called
# **exposure bias** (Ranzato et al., 2016). Exact match alone hides it: a whole line is
# right or wrong, and a model that learns faster can win on exact match while still
# suffering from it. To see it, score each model token by token on the dev set twice: fed
# the reference prefix, and fed its own previous guesses
# (`seq2code.analysis.token_accuracy`):

# %%
show_source(token_accuracy)

# %%
accuracy = {ratio: {feed: token_accuracy(m.model, data.pairs["dev"], feed)
                    for feed in (1.0, 0.0)} for ratio, m in tf_models.items()}
Table(["trained with teacher forcing", "fed the reference", "fed its own guesses",
       "kept (own / reference)"],
      [[ratio, acc[1.0], acc[0.0], acc[0.0] / acc[1.0]] for ratio, acc in accuracy.items()],
      formats=[".1f", ".1%", ".1%", ".0%"])

# %%
kept = {ratio: acc[0.0] / acc[1.0] for ratio, acc in accuracy.items()}
tf_em = {ratio: r.metrics["exact_match"] for ratio, r in tf_reports.items()}
best_em = max(tf_em, key=tf_em.get)
display(Markdown(
    f"Fed the reference, the model trained with teacher forcing 1.0 predicts "
    f"{accuracy[1.0][1.0]:.1%} of the dev tokens; fed its own guesses, {accuracy[1.0][0.0]:.1%}: "
    f"it keeps {kept[1.0]:.0%} of its accuracy, against {kept[0.5]:.0%} for the model trained "
    f"at 0.5 and {kept[0.0]:.0%} for the one that always read its own guesses. That loss is "
    f"exposure bias: the more a model was fed the reference, the more it loses when it has "
    f"to read its own mistakes. On dev exact match, teacher forcing {best_em} comes first in "
    f"this profile ({tf_em[best_em]:.1%}; {', '.join(f'{r}: {tf_em[r]:.1%}' for r in tf_em)}): "
    + ("with a short budget, the model that always sees the reference learns fastest, and "
       "its head start outweighs the exposure bias on whole lines." if best_em == 1.0 else
       "the model fed its own guesses part of the time has learned to recover from a "
       "mistake, and that shows on whole lines.")))

# %% tags=["outcome", "remove-cell"]
# The train loss is measured with each model's own feeding: the more often the reference
# is fed, the lower it is, in every profile.
train_losses = [tf_models[ratio].history.train_loss[-1] for ratio in (0.0, 0.5, 1.0)]
assert train_losses[0] > train_losses[1] > train_losses[2], train_losses
assert all(0.0 <= a <= 1.0 for acc in accuracy.values() for a in acc.values())
if profile.name != "ci":
    # Exposure bias, measured: the more teacher forcing in training, the larger the share
    # of token accuracy lost when the model reads its own guesses (cpu profile: kept
    # 95%, 74%, 66% for 0, 0.5, 1.0 when written).
    assert kept[0.0] > kept[0.5] > kept[1.0], kept
    # On reference prefixes the reference-fed model scores best and the one that always
    # read its own guesses worst (the text: its early training is hard).
    assert accuracy[1.0][1.0] > accuracy[0.5][1.0] > accuracy[0.0][1.0], accuracy

# %% [markdown]
# Feeding its own guesses part of the time (scheduled sampling, Bengio et al., 2015, of
# which our fixed 0.5 is the simplest form) exposes the model to its mistakes; feeding them
# all the time (0) makes early training hard, since the guesses are nonsense at first, as
# its low accuracy on reference prefixes shows. The course keeps 0.5; chapter 8's
# Transformer, which cannot be trained step by step cheaply, trains at 1.0 and lives with
# the bias.

# %% [markdown]
# ## 3.8 Exercises
#
# Replace `raise NotImplementedError` with your answer and run the cell: the check under it
# tries your function on small cases and prints a tick, or a hint that names the mistake.
# The solution follows in a hidden cell.
#
# ### Exercise 1: the LSTM's parameters by hand
#
# Write `lstm_parameters(V_src, V_tgt, E, H)`, the number of parameters of
# `build_model("lstm", V_src, V_tgt, emb_dim=E, hidden_dim=H)` as a formula: the same
# parts as chapter 2's RNN encoder-decoder, with LSTM layers in place of RNN layers. The
# check compares it with `count_parameters` on several sizes.
#
# <details><summary>Hint</summary>
# Each of the four blocks i, f, g, o has the weights and biases of one tanh RNN layer:
# W_i (H x E), W_h (H x H), b_ih and b_hh (H each).
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch03 import check_lstm_parameters


def lstm_parameters(V_src, V_tgt, E, H):
    # your code here
    raise NotImplementedError


check_lstm_parameters(lstm_parameters)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
from seq2code.exercises.ch03 import check_lstm_parameters


def lstm_parameters(V_src, V_tgt, E, H):
    """Parameters of the LSTM encoder-decoder: embeddings, two LSTM layers, output layer."""
    embeddings = V_src * E + V_tgt * E
    lstm_layer = 4 * (H * E + H * H + 2 * H)  # gates i, f, g, o: W_ih, W_hh, b_ih, b_hh each
    output = H * V_tgt + V_tgt  # W_o, b_o
    return embeddings + 2 * lstm_layer + output


check_lstm_parameters(lstm_parameters, strict=True)

# %% [markdown]
# ### Exercise 2: one LSTM step from the stacked weights
#
# Write `lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh)`: one step of the equations
# of section 3.1 for a batch, from raw weight tensors laid out as an `nn.LSTMCell`'s:
# `W_ih` $[4H, E]$, `W_hh` $[4H, H]$, `b_ih` and `b_hh` $[4H]$, each stacking the four
# blocks in PyTorch's order $i, f, g, o$. Unlike section 3.2, compute the four
# pre-activations together, with one product per weight matrix, and cut the result into the
# gates; PyTorch's own `nn.LSTMCell` and `torch.lstm_cell` are not allowed. `x_t` is
# `[B, E]`, `h_prev` and `c_prev` are `[B, H]`; return `(h_t, c_t)`. The check compares your
# step with an `nn.LSTMCell` that holds the same weights.
#
# <details><summary>Hint</summary>
# As in chapter 2's <code>rnn_step</code>, a batch of row vectors times a weight's transpose
# applies the weight to every row. The two products and the two biases add up to one
# tensor of pre-activations; which shape does it have, and along which axis do the four
# gates sit? <code>chunk</code> cuts a tensor into equal pieces along the axis you name.
# Which of the four pieces goes through tanh rather than a sigmoid?
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch03 import check_lstm_step


def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    # your code here
    raise NotImplementedError


check_lstm_step(lstm_step)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import torch

from seq2code.exercises.ch03 import check_lstm_step


def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    """One LSTM step: ``x_t`` [B, E], ``h_prev``, ``c_prev`` [B, H] -> ``(h_t, c_t)``;
    ``W_ih`` [4H, E], ``W_hh`` [4H, H], ``b_ih``, ``b_hh`` [4H] stack the gates i, f, g, o."""
    pre = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh  # [B, 4H]
    i, f, g, o = pre.chunk(4, dim=-1)  # each [B, H], PyTorch's order
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.tanh(g)
    c_t = f * c_prev + i * g  # [B, H]
    h_t = o * torch.tanh(c_t)  # [B, H]
    return h_t, c_t


check_lstm_step(lstm_step, strict=True)

# %% [markdown]
# ### Exercise 3: carry the state across a padded batch
#
# Write `run_lstm(xs, lengths, cell)`: run `cell` (an `nn.LSTMCell`) over a padded batch of
# inputs `xs` `[B, S, E]`, whose row $b$ has `lengths[b]` real positions, starting from
# $h_0 = c_0 = 0$. Return `outputs` `[B, S, H]` (every $h_t$, and 0 at padded positions)
# and the final pair `(h, c)`, each `[B, H]`. A padded position must not change a row's
# state, so that each row's final `(h, c)` is the state after its own last token: the
# same result as the library's encoder, which packs the batch.
#
# <details><summary>Hint</summary>
# Loop over the positions, giving <code>cell</code> the inputs of position t and the current
# pair. Comparing t with <code>lengths</code> tells, row by row, whether position t is real;
# with a trailing axis of size 1 that comparison broadcasts over the H units, and
# <code>torch.where</code> can then choose, per row, between the new state and the old one.
# The same comparison also zeroes the outputs at padding.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch03 import check_run_lstm


def run_lstm(xs, lengths, cell):
    # your code here
    raise NotImplementedError


check_run_lstm(run_lstm)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import torch

from seq2code.exercises.ch03 import check_run_lstm


def run_lstm(xs, lengths, cell):
    """``xs`` [B, S, E], ``lengths`` [B] -> ``outputs`` [B, S, H] and the final ``(h, c)``."""
    batch, steps, _ = xs.shape
    h = xs.new_zeros(batch, cell.hidden_size)  # [B, H] h_0
    c = xs.new_zeros(batch, cell.hidden_size)  # [B, H] c_0
    outputs = []
    for t in range(steps):
        h_new, c_new = cell(xs[:, t], (h, c))  # [B, H] each
        real = (t < lengths)[:, None]  # [B, 1] True where position t is a real token
        h = torch.where(real, h_new, h)  # padding keeps the state
        c = torch.where(real, c_new, c)
        outputs.append(h * real)  # 0 at padding
    return torch.stack(outputs, dim=1), (h, c)


check_run_lstm(run_lstm, strict=True)

# %% [markdown]
# ## Summary
#
# - An LSTM keeps a cell $c_t = f_t \odot c_{t-1} + i_t \odot g_t$ next to its hidden
#   state $h_t = o_t \odot \tanh(c_t)$: the forget gate decides what to keep, the input gate
#   what to write, the output gate what to show.
# - Our from-scratch cell, with PyTorch's stacked weights cut into gates, equals `nn.LSTM`;
#   the library's LSTM models are the RNN models with `nn.LSTM` in place of `nn.RNN`.
# - Trained on the same data and budget, the LSTM and the RNN are compared on dev exact
#   match, on how much gradient reaches the first English token (the *reach*), and on
#   exact match by input length.
# - Teacher forcing trades an easy training signal for a mismatch with decoding (exposure
#   bias); the course's default 0.5 sits between the two extremes.
# - Both models still compress the whole description into one state pair $(h_S, c_S)$.
#   Chapter 4 lets the decoder look back at every $h_s$: attention.
