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
# # 2. The vanilla RNN encoder-decoder
#
# The first model of the course is the simplest one that can map a sequence to a sequence:
# one recurrent neural network (RNN) reads the English, a second one writes the Python,
# and the only thing that passes between them is one vector, the encoder's last state.
# It will not be good. It is the baseline that every later chapter improves on, and its
# failures (long inputs, forgotten beginnings) are what motivate the LSTM and attention.
#
# **What you will learn**
#
# - the recurrence $h_t = \tanh(W_{xh} x_t + W_{hh} h_{t-1} + b)$, written out as a loop and
#   checked against PyTorch's `nn.RNN`;
# - how the library's encoder and decoder use it, and the *shift by one* between what the
#   decoder reads and what it must predict;
# - teacher forcing, decided per time step or per sequence;
# - how to read training curves, sample generations and the course's metrics table;
# - why a vanilla RNN forgets the start of its input: *vanishing gradients*, measured.

# %%
import math
import warnings
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from torch import nn

from seq2code import models, training
from seq2code.analysis import encoder_state_gradients
from seq2code.batching import collate, make_batches
from seq2code.experiment import evaluate_model, prepare_data, train_model, translate
from seq2code.models.base import Seq2Seq
from seq2code.models.rnn import RNNDecoder, RNNEncoder
from seq2code.profiles import get_profile
from seq2code.show import show_source
from seq2code.tables import Table
from seq2code.tokens import tokenize_code

torch.manual_seed(0)
profile = get_profile()
print(profile)

# %% [markdown]
# ## The recurrence
#
# An RNN reads a sequence of vectors $x_1, \dots, x_S$ (here: the embeddings of the English
# tokens) one at a time and keeps a *hidden state* $h_t \in \mathbb{R}^H$ that summarises
# everything read so far:
#
# $$h_t = \tanh(W_{xh} x_t + W_{hh} h_{t-1} + b), \qquad h_0 = 0.$$
#
# The same weights $W_{xh} \in \mathbb{R}^{H \times E}$, $W_{hh} \in \mathbb{R}^{H \times H}$
# and $b \in \mathbb{R}^H$ are used at every step, so one network handles inputs of any
# length. PyTorch splits the bias in two, $b = b_{ih} + b_{hh}$, which computes the same
# function. Here is the recurrence as an explicit loop:

# %%
def rnn_from_scratch(x: torch.Tensor, h0: torch.Tensor, W_xh: torch.Tensor,
                     W_hh: torch.Tensor, b_ih: torch.Tensor,
                     b_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A one-layer tanh RNN, one time step at a time.

    Args:
        x: ``[B, S, E]`` the inputs x_1 .. x_S.
        h0: ``[B, H]`` the initial state h_0.
        W_xh: ``[H, E]``; W_hh: ``[H, H]``; b_ih, b_hh: ``[H]`` (b = b_ih + b_hh).

    Returns:
        ``[B, S, H]`` every state h_1 .. h_S, and ``[B, H]`` the last state h_S.
    """
    h = h0  # [B, H]  h_{t-1}
    states = []
    for t in range(x.size(1)):
        x_t = x[:, t]  # [B, E]  x_t
        h = torch.tanh(x_t @ W_xh.T + b_ih + h @ W_hh.T + b_hh)  # [B, H]  h_t
        states.append(h)
    return torch.stack(states, dim=1), h


B, S, E, H = 3, 7, 5, 4
torch_rnn = nn.RNN(E, H, batch_first=True)  # PyTorch's RNN, random weights
x = torch.randn(B, S, E)  # [B, S, E]
h0 = torch.zeros(B, H)  # [B, H]
ours, ours_last = rnn_from_scratch(x, h0, torch_rnn.weight_ih_l0, torch_rnn.weight_hh_l0,
                                   torch_rnn.bias_ih_l0, torch_rnn.bias_hh_l0)
theirs, theirs_last = torch_rnn(x, h0.unsqueeze(0))  # [B, S, H], [1, B, H]
torch.testing.assert_close(ours, theirs)
torch.testing.assert_close(ours_last, theirs_last[0])
print("the loop and nn.RNN agree; largest difference:",
      f"{(ours - theirs).abs().max().item():.2e}")

# %% tags=["outcome", "remove-cell"]
torch.testing.assert_close(ours, theirs)
assert ours.shape == (B, S, H)

# %% [markdown]
# `nn.RNN` computes the same thing with fast kernels (and on the GPU with cuDNN), so the
# library uses it. The **encoder** embeds the English ids and runs an RNN over them; padded
# positions are packed away so that each row's final state is the state after its own last
# token:

# %%
show_source(RNNEncoder.forward)

# %% [markdown]
# The **decoder** is a second RNN with its own embedding of code tokens. Its first state is
# the encoder's last state $h_S$; at step $t$ it reads the previous code token $y_{t-1}$,
# updates its state $s_t = \tanh(W_{ys} e(y_{t-1}) + W_{ss} s_{t-1} + b)$ and scores every
# token of the code vocabulary, $p(y_t \mid y_{<t}, x) = \mathrm{softmax}(W_o s_t + b_o)$:

# %%
show_source(RNNDecoder)

# %% [markdown]
# Everything the decoder knows about the English must squeeze through $h_S$, one vector of
# $H$ numbers. Keep that in mind when we look at long inputs below.
#
# ## The shift by one
#
# The decoder predicts token $t$ from the tokens before it. In training, the gold line
# framed by `<sos>` and `<eos>` is cut twice: the decoder *reads* `<sos> y1 … y(n-1) yn`
# and must *predict* `y1 … yn <eos>`, the same sequence shifted left by one. Here it is on
# a real training example:

# %%
data = prepare_data(profile)
example = 1
batch = collate([data.pairs["train"][example]], [example])  # a batch of one
decoder_input = [data.tgt_vocab.itos[i] for i in batch.tgt_in[0].tolist()]  # <sos> y1 .. yn
target = [data.tgt_vocab.itos[i] for i in batch.tgt_out[0].tolist()]  # y1 .. yn <eos>
print("English:", data.train[example].nl)
print("Python: ", data.train[example].code)
Table(["step t", "decoder reads y(t-1)", "decoder must predict y(t)"],
      [[t + 1, a, b] for t, (a, b) in enumerate(zip(decoder_input, target, strict=True))],
      formats=[None, "code", "code"])

# %% tags=["outcome", "remove-cell"]
assert decoder_input[0] == "<sos>" and target[-1] == "<eos>"
assert decoder_input[1:] == target[:-1]

# %% [markdown]
# ## Teacher forcing: per step or per sequence
#
# When the decoder reads the *gold* previous token, as in the table above, it is
# **teacher-forced**: training is fast and stable, but the model never sees its own
# mistakes, which it must live with at test time, when it reads its own predictions
# (*exposure bias*). The course's training mixes the two with probability 0.5, and there
# are two ways to draw the coin:
#
# - **per step** (`tf_mode="step"`, the default): one coin per time step, shared by the batch.
#   Within one line, gold and own tokens alternate, so the model learns to recover from a
#   mistake in the middle of a line;
# - **per sequence** (`tf_mode="sequence"`): one coin per example, which decides its whole
#   line: half the lines are fully teacher-forced, half are fully free-running.
#
# Both are one argument of `train_model`. The main model of this chapter (which chapters 3
# to 5 read back from the cache) uses the default options:

# %%
rnn = train_model("rnn", data=data)
rnn_sequence = train_model("rnn", data=data, train_options={"tf_mode": "sequence"})
print("main model from cache:", rnn.from_cache, "| per-sequence model from cache:",
      rnn_sequence.from_cache)

# %% [markdown]
# Before training, a model that knows nothing spreads its probability over the whole code
# vocabulary; its loss is about $\ln V$. We measure it on a fresh model and compare both
# trained models' dev loss (teacher-forced cross-entropy per token) and dev exact match
# after each epoch:

# %%
device = next(rnn.model.parameters()).device
dev_batches = make_batches(data.pairs["dev"], profile.batch_size)
torch.manual_seed(0)
fresh = models.build_model("rnn", len(data.src_vocab), len(data.tgt_vocab),  # same size
                           profile.emb_dim, profile.hidden_dim).to(device)
initial_dev_loss = training.evaluate_loss(fresh, dev_batches, device)
print(f"untrained dev loss {initial_dev_loss:.3f} (ln V = {math.log(len(data.tgt_vocab)):.3f})")

fig, (ax_loss, ax_exact) = plt.subplots(1, 2, figsize=(11, 4))
for name, trained in (("per step", rnn), ("per sequence", rnn_sequence)):
    epochs = np.arange(1, len(trained.history.dev_loss) + 1)
    ax_loss.plot(epochs, trained.history.dev_loss, marker="o", label=name)
    ax_exact.plot(epochs, trained.history.dev_exact_match, marker="o", label=name)
ax_loss.set(xlabel="epoch", ylabel="dev loss (cross-entropy per token)",
            title="Dev loss by teacher-forcing mode")
ax_exact.set(xlabel="epoch", ylabel="dev exact match", title="Dev exact match by mode")
ax_loss.legend()
ax_exact.legend()
plt.show()
Table(["teacher forcing", "best dev loss", "best dev exact match"],
      [[name, min(t.history.dev_loss), max(t.history.dev_exact_match)]
       for name, t in (("per step", rnn), ("per sequence", rnn_sequence))],
      formats=[None, ".3f", ".1%"])

# %% [markdown]
# The dev loss is measured with full teacher forcing, so it rewards a model that predicts
# well from gold prefixes; exact match decodes freely and rewards a model that recovers
# from its own mistakes. Per-step coins give every line some free-running steps, per-sequence
# coins give some lines none at all and others nothing but, which is why the two curves
# can disagree; the table says which mode won on this profile's budget.
#
# ## Training curves
#
# The main model's training and dev loss per epoch, from its `History`:

# %%
history = rnn.history
epochs = np.arange(1, len(history.train_loss) + 1)
plt.figure(figsize=(6, 4))
plt.plot(epochs, history.train_loss, marker="o", label="train (teacher forcing 0.5)")
plt.plot(epochs, history.dev_loss, marker="o", label="dev (teacher forcing 1.0)")
plt.axhline(initial_dev_loss, color="grey", linestyle="--", label="untrained, dev")
plt.xlabel("epoch")
plt.ylabel("cross-entropy per token")
plt.title("Vanilla RNN: loss per epoch")
plt.legend()
plt.show()
print(f"dev loss: untrained {initial_dev_loss:.3f}, after epoch 1 {history.dev_loss[0]:.3f},"
      f" best {min(history.dev_loss):.3f} (best epoch {history.best_epoch})")

# %% [markdown]
# The dev loss falls far below the untrained model's. The training loss is computed with
# teacher forcing 0.5, on the model's own predictions half of the time, so it sits above
# the teacher-forced dev loss rather than below it.

# %% tags=["outcome", "remove-cell"]
# The dev loss falls well below its start (the untrained model's), in every profile.
assert min(history.dev_loss) < 0.6 * initial_dev_loss, (min(history.dev_loss),
                                                        initial_dev_loss)
assert min(history.dev_loss) < history.dev_loss[0] or len(history.dev_loss) == 1

# %% [markdown]
# ## What it generates
#
# `evaluate_model` decodes every dev example greedily and scores it. A few generations
# beside their references:

# %%
with warnings.catch_warnings():
    # Parsing generated code can make Python warn about odd string escapes: not our concern.
    warnings.simplefilter("ignore", SyntaxWarning)
    report = evaluate_model(rnn, data.dev)
Table(["English", "reference", "generated", "exact"],
      [[p["nl"], p["reference"], p["prediction"], "yes" if p["exact"] else "no"]
       for p in report.predictions[:10]],
      formats=[None, "code", "code", None])

# %% [markdown]
# Short, common lines (`else:`, `try:`, `return x`) often come out right; longer ones start
# well and drift, often keeping the shape of a line while getting its names wrong.
#
# ## The metrics table
#
# The course's metrics (chapter 1): exact match on raw tokens and after canonicalising
# string literals, BLEU, the share of generations that parse as Python, and the mean token
# edit distance to the reference. To know what "good" means we need a floor: always
# predicting the most frequent training line.

# %%
most_frequent_line, count = Counter(ex.code.strip() for ex in data.train).most_common(1)[0]
baseline_tokens = tokenize_code(most_frequent_line)
baseline_exact = np.mean([tokenize_code(ex.code) == baseline_tokens for ex in data.dev])
print(f"most frequent training line: {most_frequent_line!r} ({count} times); "
      f"predicting it everywhere gets dev exact match {baseline_exact:.1%}")
m = report.metrics
Table(["model", "exact match", "exact match (canonical)", "BLEU", "parse rate",
       "edit distance"],
      [["most frequent line", f"{baseline_exact:.1%}", "", "", "", ""],
       ["vanilla RNN", f"{m['exact_match']:.1%}", f"{m['exact_match_canonical']:.1%}",
        f"{m['bleu']:.1f}", f"{m['parse_rate']:.1%}", f"{m['edit_distance']:.2f}"]],
      align="lrrrrr")

# %% tags=["outcome", "remove-cell"]
predicted = [p["prediction"] for p in report.predictions]
assert any(predicted), "the model decodes something"
if profile.name == "ci":
    # The ci budget (a few epochs on a small subset) trains and decodes, but cannot be
    # trusted to beat the baseline.
    assert m["exact_match"] >= 0.0 and history.dev_loss[-1] < initial_dev_loss
else:
    assert m["exact_match"] > baseline_exact, (m["exact_match"], baseline_exact)

# %% [markdown]
# ### Exact match by input length
#
# If the encoder's last state has to carry the whole description, long descriptions should
# suffer. The metrics broken down by the number of English tokens:

# %%
buckets = [row for row in m["by_length"] if row["n"] > 0]
display(Table(["English tokens", "examples", "exact match", "BLEU"],
              [[row["bucket"], row["n"], row["exact_match"], row["bleu"]] for row in buckets],
              formats=[None, "d", ".1%", ".1f"]))
plt.figure(figsize=(6, 4))
plt.bar([row["bucket"] for row in buckets], [row["exact_match"] for row in buckets])
plt.xlabel("English input length (tokens)")
plt.ylabel("dev exact match")
plt.title("Vanilla RNN: exact match by input length")
plt.show()

# %% tags=["outcome", "remove-cell"]
# Exact match falls with the input length: shortest bucket above the longest. The ci budget
# is too small to trust this, so there we only check that every bucket was scored.
assert sum(row["n"] for row in buckets) == m["n"]
if profile.name != "ci":
    assert buckets[0]["exact_match"] > buckets[-1]["exact_match"], buckets

# %% [markdown]
# Part of the fall is the task itself (long descriptions describe long lines), but part is
# the model: the next section shows how little of the loss's gradient reaches the start of
# a long input.
#
# ## Vanishing gradients
#
# Training adjusts the encoder through $\partial L / \partial h_s$, the gradient of the loss
# with respect to each encoder state. For the state at position $s$ it flows back through
# every later step, and each step multiplies it by a Jacobian,
#
# $$\frac{\partial h_{t}}{\partial h_{t-1}} = \mathrm{diag}\!\left(1 - h_t^2\right) W_{hh},$$
#
# so that $\partial L / \partial h_s$ contains the product of $S - s$ such matrices. When
# their norms are below one (the $\tanh$ derivative is at most 1, and usually much less),
# the product shrinks geometrically: the early words barely influence training.
# `seq2code.analysis.encoder_state_gradients` measures $\lVert \partial L_b / \partial h_s
# \rVert$ per position, averaged over a batch:

# %%
show_source(encoder_state_gradients, lines=(1, 3))

# %%
# Dev examples whose English has the same, fairly long, length: every position is real in
# every row, so position s is exactly S - s steps from the end.
lengths = Counter(len(src) for src, _ in data.pairs["dev"])
length = max(n for n, k in lengths.items() if k >= 8 and n <= 30)
rows = [i for i, (src, _) in enumerate(data.pairs["dev"]) if len(src) == length]
grad_batch = collate([data.pairs["dev"][i] for i in rows], rows)
grad_norms = encoder_state_gradients(rnn.model, grad_batch)  # [S]
fresh_norms = encoder_state_gradients(fresh, grad_batch)  # [S]
print(f"{len(rows)} dev examples of {length} English tokens; "
      f"||dL/dh_s|| at s=1: {grad_norms[0]:.2e}, at s={length}: {grad_norms[-1]:.2e}")
plt.figure(figsize=(7, 4))
positions = np.arange(1, length + 1)
plt.semilogy(positions, grad_norms.numpy(), marker="o", label="trained RNN")
plt.semilogy(positions, fresh_norms.numpy(), marker=".", label="untrained RNN")
plt.xlabel("encoder position s")
plt.ylabel("mean ||dL/dh_s|| (log scale)")
plt.title("Gradient of the loss w.r.t. each encoder state")
plt.legend()
plt.show()

# %% [markdown]
# The gradient is largest at the last position, which feeds the decoder directly, and
# decays as we move back towards the start of the English: the first words of a long
# description receive a small fraction of the training signal the last ones get. Chapter 3
# replaces the tanh cell with an LSTM, whose additive cell state carries the gradient
# further back.

# %% tags=["outcome", "remove-cell"]
# Vanishing gradients: the start of the input gets much less gradient than the end.
assert grad_norms[0] < 0.5 * grad_norms[-1], grad_norms
assert not torch.isnan(grad_norms).any()

# %% [markdown]
# ## Try it
#
# `translate` runs the trained model on any description:

# %%
translate(rnn, ["return the value of x", "call the function foo with argument bar"])

# %% [markdown]
# ## Exercises
#
# Replace `raise NotImplementedError` with your answer and run the cell: the check under it
# tries your function on small cases and prints a tick, or a hint that names the mistake.
# The solution follows in a hidden cell.
#
# ### Exercise 1: count the parameters by hand
#
# Write `rnn_parameters(V_src, V_tgt, E, H)`, the number of parameters of
# `build_model("rnn", V_src, V_tgt, emb_dim=E, hidden_dim=H)` as a formula. The model has
# an English embedding, a code embedding, an encoder RNN and a decoder RNN (each reading
# embeddings of size $E$ into a state of size $H$, with PyTorch's two biases $b_{ih}$ and
# $b_{hh}$), and an output layer from the decoder state to the code vocabulary. The check
# compares your formula with `count_parameters` on several sizes.
#
# <details><summary>Hint</summary>
# An embedding of a vocabulary of V tokens has V x E numbers. One tanh RNN layer has
# W_xh (H x E), W_hh (H x H), b_ih and b_hh (H each). A linear layer from H to V has
# H x V weights and V biases.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch02 import check_rnn_parameters


def rnn_parameters(V_src, V_tgt, E, H):
    # your code here
    raise NotImplementedError


check_rnn_parameters(rnn_parameters)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
from seq2code.exercises.ch02 import check_rnn_parameters


def rnn_parameters(V_src, V_tgt, E, H):
    """Parameters of the RNN encoder-decoder: embeddings, two RNN layers, output layer."""
    embeddings = V_src * E + V_tgt * E
    rnn_layer = H * E + H * H + 2 * H  # W_xh, W_hh, b_ih, b_hh
    output = H * V_tgt + V_tgt  # W_o, b_o
    return embeddings + 2 * rnn_layer + output


check_rnn_parameters(rnn_parameters, strict=True)

# %% [markdown]
# ### Exercise 2: one step of the recurrence
#
# Write `rnn_step(x_t, h_prev, W_xh, W_hh, b)`, one step
# $h_t = \tanh(W_{xh} x_t + W_{hh} h_{t-1} + b)$ for a whole batch: `x_t` has shape
# `[B, E]`, `h_prev` $[B, H]$, `W_xh` $[H, E]$, `W_hh` $[H, H]$ and `b` $[H]$; return $h_t$
# of shape `[B, H]`.
#
# <details><summary>Hint</summary>
# The formula is written for one column vector, but the rows of <code>x_t</code> are the
# examples. Follow the shapes: <code>[B, E]</code> can only be multiplied by something of
# shape <code>[E, ...]</code>, and the result must be <code>[B, H]</code>; which form of
# W_xh is <code>[E, H]</code>? The same goes for <code>h_prev</code> and W_hh.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch02 import check_rnn_step


def rnn_step(x_t, h_prev, W_xh, W_hh, b):
    # your code here
    raise NotImplementedError


check_rnn_step(rnn_step)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import torch

from seq2code.exercises.ch02 import check_rnn_step


def rnn_step(x_t, h_prev, W_xh, W_hh, b):
    """``x_t`` [B, E], ``h_prev`` [B, H] -> ``h_t`` [B, H] = tanh(W_xh x_t + W_hh h_{t-1} + b)."""
    return torch.tanh(x_t @ W_xh.T + h_prev @ W_hh.T + b)


check_rnn_step(rnn_step, strict=True)

# %% [markdown]
# ### Exercise 3: when greedy decoding stops
#
# Write `greedy_decode(step, batch_size, max_len)`, the loop of greedy decoding for a
# batch. `step(prev)` stands for the decoder: it takes the previous token of every row,
# ids of shape `[B]`, and returns the logits of the next token, shape `[B, V]` (it keeps
# its own state). Start every row from `<sos>` (id 1) and feed back each step's most likely
# token. A row has *finished* once it has written `<eos>` (id 2); its `<eos>` is kept and
# every later position of that row is `<pad>` (id 0). Stop as soon as every row has
# finished, or after `max_len` steps, and return the tokens as a tensor `[B, steps]`.
# This is the rule that the library's `greedy_decode` follows.
#
# <details><summary>Hint</summary>
# Keep a bool tensor <code>finished</code> of shape <code>[B]</code>. At each step: take the
# argmax over the vocabulary, replace it by <code>&lt;pad&gt;</code> where the row had
# already finished (<code>torch.where</code>), then mark the rows that just wrote
# <code>&lt;eos&gt;</code>. Stack the steps along <code>dim=1</code>.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch02 import check_greedy_decode


def greedy_decode(step, batch_size, max_len):
    # your code here
    raise NotImplementedError


check_greedy_decode(greedy_decode)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import torch

from seq2code.exercises.ch02 import check_greedy_decode

PAD, SOS, EOS = 0, 1, 2


def greedy_decode(step, batch_size, max_len):
    """Greedy decoding of a batch: ``[B, steps]`` ids, ``<pad>`` after each row's ``<eos>``."""
    prev = torch.full((batch_size,), SOS, dtype=torch.long)  # [B] y_0 = <sos>
    finished = torch.zeros(batch_size, dtype=torch.bool)  # [B]
    outputs = []
    for _ in range(max_len):
        y = step(prev).argmax(dim=-1)  # [B] y_t
        y = torch.where(finished, torch.full_like(y, PAD), y)  # finished rows are padded
        outputs.append(y)
        finished |= y == EOS
        prev = y
        if finished.all():
            break
    return torch.stack(outputs, dim=1)  # [B, steps]


check_greedy_decode(greedy_decode, strict=True)

# %% [markdown]
# ## Summary
#
# - A vanilla RNN applies $h_t = \tanh(W_{xh} x_t + W_{hh} h_{t-1} + b)$ step by step; our
#   explicit loop computes exactly what `nn.RNN` does.
# - The encoder-decoder hands the decoder one vector, the encoder's last state; the decoder
#   reads `<sos> y1 … yn` and predicts `y1 … yn <eos>`, the same line shifted by one.
# - Teacher forcing trades fast training for exposure bias; per-step and per-sequence coins
#   mix gold and own tokens differently.
# - The trained model beats the most-frequent-line baseline, but its exact match falls with
#   the input length, and the gradient reaching the first encoder states is a small
#   fraction of that at the last: the vanishing-gradient problem that the LSTM (chapter 3)
#   and attention (chapter 4) address.
