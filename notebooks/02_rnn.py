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
# - the forward pass with its teacher-forcing coins, the masked loss and the training step,
#   written by hand and checked against the library, down to the weights after an epoch;
# - how to read training curves, sample generations and the course's metrics table;
# - why a vanilla RNN forgets the start of its input: *vanishing gradients*, measured.

# %% tags=["hide-input"]
import math
import warnings
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from matplotlib.ticker import MaxNLocator
from torch import nn

from seq2code import models, training
from seq2code.analysis import encoder_state_gradients
from seq2code.batching import collate, make_batches
from seq2code.experiment import evaluate_model, prepare_data, train_model, translate
from seq2code.models.base import Seq2Seq
from seq2code.models.rnn import RNNDecoder, RNNEncoder
from seq2code.plots import column_figure, use_book_style, whole_epochs
from seq2code.profiles import get_profile
from seq2code.show import show_source
from seq2code.tables import Table
from seq2code.tokens import tokenize_code
from seq2code.vocab import PAD_ID

torch.manual_seed(0)
use_book_style()  # figures drawn for the book's column, their labels at the text's size
profile = get_profile()
print(profile.describe())

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
# The library's training loop draws these coins, feeds the decoder, scores it and updates
# the weights. Before we let it, we write each of those pieces ourselves and check it
# against the library.
#
# ## The forward pass with teacher forcing, by hand
#
# The forward pass has three parts: the **encoder** turns the English into $h_S$; one
# **decoder step** goes from $y_{t-1}$ and $s_{t-1}$ to $s_t$ and the scores
# $W_o s_t + b_o$; and a **loop** over the target positions decides, with one coin per step,
# whether step $t$ reads the gold $y_{t-1}$ or the model's own previous prediction. We
# write each with the weights of a library model, so that we can compare them number by
# number. A freshly built model will do: the checks hold for any weights. The batch comes
# from the first 2,000 training pairs, which the training loop below reads; we take the
# one with the longest lines, the one with the most steps.

# %%
torch.manual_seed(0)
model = models.build_model("rnn", len(data.src_vocab), len(data.tgt_vocab),
                           profile.emb_dim, profile.hidden_dim)  # untrained, on the CPU
pairs_subset = data.pairs["train"][:2000]
batches = make_batches(pairs_subset, profile.batch_size, shuffle=True, seed=0)
batch = max(batches, key=lambda b: b.tgt_in.size(1))  # the longest lines
print(f"{len(batches)} batches; this one: src {tuple(batch.src.shape)} [B, S], "
      f"tgt_in {tuple(batch.tgt_in.shape)} [B, T]")

# %% [markdown]
# The **encoder** is the embedding and the recurrence of the first section. The library
# packs the padding away; by hand we run over the padded batch and take each row's state
# at its own last token. The states before it never saw padding, so that is $h_S$:

# %%
def encode_by_hand(model: Seq2Seq, src: torch.Tensor,
                   src_lens: torch.Tensor) -> torch.Tensor:
    """The encoder's last state: ``src`` [B, S] ids x, ``src_lens`` [B] -> h_S [B, H]."""
    rnn = model.encoder.rnn
    x = model.encoder.embedding(src)  # [B, S, E]  e(x_s) (the library's dropout is 0)
    h0 = x.new_zeros(src.size(0), rnn.hidden_size)  # [B, H]  h_0 = 0
    states, _ = rnn_from_scratch(x, h0, rnn.weight_ih_l0, rnn.weight_hh_l0,
                                 rnn.bias_ih_l0, rnn.bias_hh_l0)  # [B, S, H]  h_1 .. h_S
    rows = torch.arange(src.size(0))  # [B]
    return states[rows, src_lens - 1]  # [B, H]  h_S: each row's state at its last token


with torch.no_grad():
    h_S = encode_by_hand(model, batch.src, batch.src_lens)  # [B, H]
    enc = model.encoder(batch.src, batch.src_lens)  # the library's EncoderOutput
torch.testing.assert_close(h_S, enc.state[0])  # enc.state: [1, B, H]
print("encoder: h_S by hand equals the library's; largest difference",
      f"{(h_S - enc.state[0]).abs().max().item():.1e}")

# %% [markdown]
# One **decoder step** is the same recurrence over the code embedding,
# $s_t = \tanh(W_{ys} e(y_{t-1}) + W_{ss} s_{t-1} + b)$, followed by the output layer
# $W_o s_t + b_o$: one score per token of the code vocabulary. The library's decoder runs
# the same step when called with one previous token per row:

# %%
def decoder_step_by_hand(model: Seq2Seq, prev: torch.Tensor,
                         s_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``prev`` [B] ids y_{t-1}, ``s_prev`` [B, H] s_{t-1} -> logits [B, V], s_t."""
    rnn, out = model.decoder.rnn, model.decoder.out
    e = model.decoder.embedding(prev)  # [B, E]  e(y_{t-1})
    s = torch.tanh(e @ rnn.weight_ih_l0.T + rnn.bias_ih_l0
                   + s_prev @ rnn.weight_hh_l0.T + rnn.bias_hh_l0)  # [B, H]  s_t
    return s @ out.weight.T + out.bias, s  # [B, V]  W_o s_t + b_o, and s_t


with torch.no_grad():
    sos = batch.tgt_in[:, 0]  # [B]  y_0 = <sos>
    logits_1, s_1 = decoder_step_by_hand(model, sos, h_S)  # [B, V], [B, H]
    step = model.decoder(sos, enc.state, enc)  # logits [B, V], state [1, B, H]
torch.testing.assert_close(logits_1, step.logits)
torch.testing.assert_close(s_1, step.state[0])
print(f"decoder step: scores {tuple(logits_1.shape)} [B, V] equal the library's")

# %% [markdown]
# The **forward pass** loops over the $T$ target positions. Like the library, it draws all
# the coins up front, one `torch.rand(T, generator=generator) < teacher_forcing` for the
# whole batch. Step $t$ reads the gold token `tgt_in[:, t]` when $t = 0$ (always `<sos>`)
# or when its coin says so, and otherwise the argmax of the previous step's scores, the
# model's own $y_{t-1}$. (The library skips the draw when teacher forcing is 1.0 or 0.0:
# the coins are then known, and `torch.rand` in $[0, 1)$ gives the same ones.)

# %%
def forward_by_hand(model: Seq2Seq, src: torch.Tensor, src_lens: torch.Tensor,
                    tgt_in: torch.Tensor, teacher_forcing: float,
                    generator: torch.Generator | None) -> torch.Tensor:
    """Scores of every target position, with one teacher-forcing coin per step.

    ``src`` [B, S], ``src_lens`` [B], ``tgt_in`` [B, T] = <sos> y_1 .. y_{T-1};
    ``generator`` draws the coins. Returns logits [B, T, V].
    """
    s = encode_by_hand(model, src, src_lens)  # [B, H]  s_0 = h_S
    T = tgt_in.size(1)
    coins = torch.rand(T, generator=generator) < teacher_forcing  # [T] bool: gold at t?
    logits = []
    for t in range(T):
        if t == 0 or coins[t]:
            prev = tgt_in[:, t]  # [B]  the gold y_{t-1}
        else:
            prev = logits[-1].argmax(dim=-1)  # [B]  the model's own y_{t-1}
        scores, s = decoder_step_by_hand(model, prev, s)  # [B, V], [B, H]
        logits.append(scores)
    return torch.stack(logits, dim=1)  # [B, T, V]


# %% [markdown]
# The check runs both with the same seeds for the coins, at teacher forcing 0.5, 1.0 and
# 0.0, and shows which steps the coins of teacher forcing 0.5 feed gold tokens
# (`G`) and which the model's own (`.`):

# %%
T = batch.tgt_in.size(1)
with torch.no_grad():
    for teacher_forcing in (0.5, 1.0, 0.0):
        for seed in range(3):
            ours = forward_by_hand(model, batch.src, batch.src_lens, batch.tgt_in,
                                   teacher_forcing, torch.Generator().manual_seed(seed))
            theirs = model(batch.src, batch.src_lens, batch.tgt_in,
                           teacher_forcing=teacher_forcing,
                           generator=torch.Generator().manual_seed(seed)).logits
            torch.testing.assert_close(ours, theirs)
for seed in range(3):
    coins = torch.rand(T, generator=torch.Generator().manual_seed(seed)) < 0.5  # [T]
    fed = "".join("G" if t == 0 or coin else "." for t, coin in enumerate(coins))
    print(f"seed {seed}: {fed}")
print(f"forward pass: logits {tuple(ours.shape)} [B, T, V] equal the library's "
      "for teacher forcing 0.5, 1.0 and 0.0, three seeds each")

# %% [markdown]
# ## The masked loss by hand
#
# The scores at position $t$ are those of $y_t$: the decoder read `tgt_in[:, t]`, that is
# $y_{t-1}$, and is scored against `tgt_out[:, t]`, that is $y_t$ (the shift by one
# above). The loss of one token is $-\log p(y_t \mid y_{<t}, x)$, the negative log of the
# softmax of $W_o s_t + b_o$ at the gold token, and the loss of a batch is its mean over
# the $N$ real tokens:
#
# $$L = -\frac{1}{N} \sum_{(b, t):\ y_{b,t} \neq \texttt{<pad>}} \log p(y_{b,t} \mid
# y_{b,<t}, x_b).$$
#
# Padding only makes the batch rectangular: after a row's `<eos>` there is nothing to
# predict. Counting those slots would train the model to write `<pad>` after `<eos>` (which
# decoding never asks for, since it stops at `<eos>`), and would make a line's share of the
# loss depend on how long the other lines of its batch are. So the mask keeps the real
# tokens only:

# %%
def masked_cross_entropy(logits: torch.Tensor, tgt_out: torch.Tensor) -> torch.Tensor:
    """-mean log p(y_t) over the real tokens: ``logits`` [B, T, V], ``tgt_out`` [B, T]."""
    log_probs = logits.log_softmax(dim=-1)  # [B, T, V]  log p(. | y_<t, x)
    gold = log_probs.gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)  # [B, T]  log p(y_t)
    real = tgt_out != PAD_ID  # [B, T]  True at real tokens
    return -(gold * real).sum() / real.sum()  # scalar: the sum over real tokens / N


with torch.no_grad():
    logits = forward_by_hand(model, batch.src, batch.src_lens, batch.tgt_in, 1.0, None)
    ours = masked_cross_entropy(logits, batch.tgt_out)
    library = training.sequence_loss(logits, batch.tgt_out)
    from_model = model.loss(batch.src, batch.src_lens, batch.tgt_in, batch.tgt_out,
                            teacher_forcing=1.0)
    every_slot = nn.functional.cross_entropy(  # every slot, padding counted too
        logits.flatten(0, 1), batch.tgt_out.flatten())
torch.testing.assert_close(ours, library)
torch.testing.assert_close(ours, from_model)
real = int((batch.tgt_out != PAD_ID).sum())
print(f"{real} real tokens in {batch.tgt_out.numel()} slots "
      f"({1 - real / batch.tgt_out.numel():.0%} padding)")
print(f"masked loss by hand {ours:.4f} | sequence_loss {library:.4f} | "
      f"model.loss {from_model:.4f} | mean over every slot {every_slot:.4f}")

# %% [markdown]
# The three masked losses agree. The mean over every slot is another number: it adds a
# term $-\log p(\texttt{<pad>})$ for each padded slot and divides by all the slots, not by
# $N$. An untrained model gives `<pad>` about the same probability as any other token, so
# here the two are close; a model trained with the mask never learns to write `<pad>`, so
# its padded slots cost it more and more. We measure it again after the training loop
# below.
#
# ## One training step, then a loop
#
# One step of training: forget the last step's gradients (`zero_grad`), run the forward
# pass and the loss, compute the gradient of every weight (`backward`), shrink the whole
# gradient to norm 1.0 if it is longer (`clip_grad_norm_`: a guard against the exploding
# gradients that RNNs are prone to) and let the optimizer move the weights (`step`):

# %%
def step_by_hand(model: Seq2Seq, optimizer: torch.optim.Optimizer, batch,
                 generator: torch.Generator) -> float:
    """One training step on ``batch``, teacher forcing 0.5; returns the batch's loss."""
    model.train()
    optimizer.zero_grad()
    logits = forward_by_hand(model, batch.src, batch.src_lens, batch.tgt_in, 0.5,
                             generator)  # [B, T, V]
    loss = masked_cross_entropy(logits, batch.tgt_out)  # scalar
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()


# %% [markdown]
# The library's `train` runs this step over every batch of every epoch. It draws everything
# random from one seed: it calls `torch.manual_seed(seed)`, seeds a generator for the coins
# with it, and builds epoch $k$'s batches with `make_batches(..., shuffle=True,
# by_length=True, seed=seed + k)`. We train one copy of a fresh model with our step for one
# epoch over the 2,000 pairs, drawn the same way, with Adam at learning rate
# $10^{-3}$; `train` trains a second copy, built from the same seed, with the same
# configuration. (`train` also scores the dev set after each epoch: a few dev pairs keep
# that short.)

# %%
from seq2code.plan import CHAPTERS, plan_training

print(plan_training(CHAPTERS[2], data))  # what this chapter trains, and for how long

# %%
def fresh_rnn() -> Seq2Seq:
    torch.manual_seed(0)
    return models.build_model("rnn", len(data.src_vocab), len(data.tgt_vocab),
                               profile.emb_dim, profile.hidden_dim)


config = training.TrainConfig(epochs=1, batch_size=profile.batch_size, lr=1e-3,
                              teacher_forcing=0.5, clip=1.0, seed=0,
                              max_decode_len=profile.max_tgt_len)
by_hand, by_library = fresh_rnn(), fresh_rnn()  # two copies of one untrained model
start = {name: w.detach().clone() for name, w in by_hand.named_parameters()}

torch.manual_seed(config.seed)  # what train does before its first epoch
coins = torch.Generator().manual_seed(config.seed)
optimizer = torch.optim.Adam(by_hand.parameters(), lr=config.lr)
epoch_batches = make_batches(pairs_subset, config.batch_size, shuffle=True,
                             by_length=config.by_length, seed=config.seed + 0)
hand_losses = [step_by_hand(by_hand, optimizer, b, coins) for b in epoch_batches]

library_history = training.train(by_library, pairs_subset,
                                 data.pairs["dev"][:config.batch_size], config,
                                 device="cpu", progress=False)

# %% tags=["hide-input"]
fig, ax = column_figure(row_height=3.4)
steps = np.arange(1, len(hand_losses) + 1)
ax.plot(steps, hand_losses, marker="o", label="our loop")
ax.plot(steps, library_history.batch_loss, marker="x", linestyle="none",
        color="black", label="the library's train")
ax.axhline(math.log(len(data.tgt_vocab)), color="grey", linestyle="--", label="ln V")
ax.xaxis.set_major_locator(MaxNLocator(integer=True))
ax.set(xlabel="batch", ylabel="training loss (cross-entropy per token)",
       title=f"One epoch on {len(pairs_subset):,} pairs, teacher forcing 0.5")
ax.legend()
plt.show()

# %% [markdown]
# The two curves are one. So are the weights, up to rounding: the library runs a stretch of
# teacher-forced steps as one `nn.RNN` call and scores the real tokens only, we go one step
# at a time over every slot, so the two sum the same numbers in different orders. Adam
# divides each gradient by its own running size, which lets the rounding of the smallest
# gradients move a weight a little. We therefore compare within 0.1% (and $10^{-5}$), and
# print the largest difference next to the largest change that training made:

# %% tags=["hide-input"]
library_weights = dict(by_library.named_parameters())
for name, weight in by_hand.named_parameters():
    torch.testing.assert_close(weight, library_weights[name], rtol=1e-3, atol=1e-5)
torch.testing.assert_close(torch.tensor(hand_losses),
                           torch.tensor(library_history.batch_loss))
hand_weights = dict(by_hand.named_parameters())
gap = max((w - library_weights[n]).abs().max().item() for n, w in hand_weights.items())
moved = max((w - start[n]).abs().max().item() for n, w in hand_weights.items())
print(f"after {len(hand_losses)} batches every weight of the two copies agrees: largest "
      f"difference {gap:.1e}, largest change by training {moved:.1e}")
print(f"loss of the first batch {hand_losses[0]:.3f}, of the last {hand_losses[-1]:.3f}")

# %% tags=["outcome", "remove-cell"]
assert len(hand_losses) == len(library_history.batch_loss) == len(epoch_batches)
assert gap < 1e-2 * moved, (gap, moved)
assert np.mean(hand_losses[-5:]) < np.mean(hand_losses[:5]), hand_losses

# %% [markdown]
# Back to the padding: the copy we trained, on the batch of the loss section, teacher-forced.
# One epoch has taught it that `<pad>` never comes, so the mean over every slot now sits
# well above the masked loss:

# %%
with torch.no_grad():
    logits = forward_by_hand(by_hand, batch.src, batch.src_lens, batch.tgt_in, 1.0, None)
    masked = masked_cross_entropy(logits, batch.tgt_out)
    every_slot = nn.functional.cross_entropy(logits.flatten(0, 1),
                                             batch.tgt_out.flatten())
print(f"after one epoch: masked loss {masked:.4f} | every slot {every_slot:.4f}")

# %% tags=["outcome", "remove-cell"]
assert every_slot > masked + 0.5, (float(every_slot), float(masked))

# %% [markdown]
# The library's step is ours with the library's loss, `Seq2Seq.loss`, which computes the
# same value with less work (the output layer over the real tokens only):

# %% tags=["hide-output"]
show_source(training.train_step)

# %% [markdown]
# From here the library's `train` takes over. Its epoch loop is the one we just ran; around
# it, it scores the dev set after every epoch (loss and exact match), writes checkpoints
# (`last.pt` to resume from, `best.pt` when dev exact match improves), lowers the learning
# rate when the dev loss stops falling, can stop early, and ends with the best epoch's
# weights:

# %%
show_source(training.train)

# %% [markdown]
# ## Training the chapter's models
#
# Per-step and per-sequence coins are one argument of `train_model`, which calls `train`
# with the run profile's settings and caches the trained model. The main model
# of this chapter (which chapters 3 to 5 read back from the cache) uses the default
# options:

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

# %% tags=["hide-input"]
device = next(rnn.model.parameters()).device
dev_batches = make_batches(data.pairs["dev"], profile.batch_size)
torch.manual_seed(0)
fresh = models.build_model("rnn", len(data.src_vocab), len(data.tgt_vocab),  # same size
                           profile.emb_dim, profile.hidden_dim).to(device)
initial_dev_loss = training.evaluate_loss(fresh, dev_batches, device)
print(f"untrained dev loss {initial_dev_loss:.3f} (ln V = {math.log(len(data.tgt_vocab)):.3f})")

fig, (ax_loss, ax_exact) = column_figure(2, row_height=2.8, sharex=True)
for name, trained in (("per step", rnn), ("per sequence", rnn_sequence)):
    epochs = np.arange(1, len(trained.history.dev_loss) + 1)
    ax_loss.plot(epochs, trained.history.dev_loss, marker="o", label=name)
    ax_exact.plot(epochs, trained.history.dev_exact_match, marker="o", label=name)
ax_loss.set(ylabel="dev loss (per token)", title="Dev loss by teacher-forcing mode")
ax_exact.set(xlabel="epoch", ylabel="dev exact match", title="Dev exact match by mode")
whole_epochs(ax_loss, ax_exact)
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

# %% tags=["hide-input"]
history = rnn.history
epochs = np.arange(1, len(history.train_loss) + 1)
fig, ax = column_figure(row_height=3.4)
ax.plot(epochs, history.train_loss, marker="o", label="train (teacher forcing 0.5)")
ax.plot(epochs, history.dev_loss, marker="o", label="dev (teacher forcing 1.0)")
ax.axhline(initial_dev_loss, color="grey", linestyle="--", label="untrained, dev")
ax.set(xlabel="epoch", ylabel="cross-entropy per token", title="Vanilla RNN: loss per epoch")
whole_epochs(ax)
ax.legend()
plt.show()
# History.best_epoch counts from 0 (a list index); the plot's epochs count from 1. The kept
# weights are the epoch with the best dev exact match, not always the lowest dev loss.
lowest = int(np.argmin(history.dev_loss))
print(f"dev loss: untrained {initial_dev_loss:.3f}, after epoch 1 {history.dev_loss[0]:.3f},"
      f" lowest {history.dev_loss[lowest]:.3f} at epoch {lowest + 1}; the model kept is"
      f" epoch {history.best_epoch + 1}'s (best dev exact match)")

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
# The course's metrics (section 1.9): exact match on raw tokens and after canonicalising
# string literals, BLEU, the share of generations that parse as Python, and the mean token
# edit distance to the reference. To know what "good" means we need a floor: always
# predicting the most frequent training line.

# %% tags=["hide-input"]
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

# %% tags=["hide-input"]
buckets = [row for row in m["by_length"] if row["n"] > 0]
display(Table(["English tokens", "examples", "exact match", "BLEU"],
              [[row["bucket"], row["n"], row["exact_match"], row["bleu"]] for row in buckets],
              formats=[None, "d", ".1%", ".1f"]))
fig, ax = column_figure(row_height=3.0)
ax.bar([row["bucket"] for row in buckets], [row["exact_match"] for row in buckets])
ax.set(xlabel="English input length (tokens)", ylabel="dev exact match",
       title="Vanilla RNN: exact match by input length")
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

# %% tags=["hide-input"]
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
fig, ax = column_figure(row_height=3.2)
positions = np.arange(1, length + 1)
ax.semilogy(positions, grad_norms.numpy(), marker="o", label="trained RNN")
ax.semilogy(positions, fresh_norms.numpy(), marker=".", label="untrained RNN")
ax.set(xlabel="encoder position s", ylabel="mean ||dL/dh_s|| (log scale)",
       title="Gradient of the loss w.r.t. each encoder state")
whole_epochs(ax)  # positions are whole numbers too
ax.legend()
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
# ### Exercise 4: the masked loss
#
# Write `masked_loss(logits, tgt_out)`: `logits` $[B, T, V]$ are the decoder's scores at
# every target position and `tgt_out` $[B, T]$ the ids it must predict,
# $y_1 \dots y_n$ `<eos>` padded with `<pad>` (id 0). Return
# $L = -\frac{1}{N} \sum_{(b, t):\ y_{b,t} \neq \texttt{<pad>}} \log p(y_{b,t})$, the mean
# over the $N$ real tokens, as a 0-d tensor that keeps its gradient (training calls
# `backward` on it).
#
# <details><summary>Hint</summary>
# The scores at position t are already those of <code>tgt_out[:, t]</code>: there is
# nothing left to shift. Turn the scores into log-probabilities over the vocabulary, pick
# the gold token's, and average over the real slots only: which slots count, and how many
# are there? PyTorch's <code>cross_entropy</code> can do all of it, given the shapes it
# expects (classes on the last axis of a 2-D input) and told which id to ignore.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch02 import check_masked_loss


def masked_loss(logits, tgt_out):
    # your code here
    raise NotImplementedError


check_masked_loss(masked_loss)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
from torch.nn import functional as F

from seq2code.exercises.ch02 import check_masked_loss

PAD = 0


def masked_loss(logits, tgt_out):
    """-mean log p(y_t) over the real tokens: ``logits`` [B, T, V], ``tgt_out`` [B, T]."""
    return F.cross_entropy(logits.flatten(0, 1),  # [B T, V]  scores of y_t
                           tgt_out.flatten(),  # [B T]  y_t
                           ignore_index=PAD)  # scalar: the mean over the N real tokens


check_masked_loss(masked_loss, strict=True)

# %% [markdown]
# ### Exercise 5: the loop of teacher forcing
#
# Write `decode_with_teacher_forcing(step, tgt_in, coins)`, the decoder's loop in the
# forward pass. `step(prev)` stands for one decoder step: it takes one id per row, shape
# `[B]`, and returns the logits of the next token, `[B, V]` (it keeps its own state
# $s_t$). `tgt_in` $[B, T]$ is `<sos>` $y_1 \dots y_{T-1}$, and `coins` $[T]$ is a bool
# tensor already drawn: step $t$ reads the gold $y_{t-1}$, that is `tgt_in[:, t]`, where
# `coins[t]` is True, and the model's own previous prediction, the argmax of step $t-1$'s
# logits, where it is False. Step 0 always reads `<sos>`. Return the logits of the $T$
# steps as one tensor $[B, T, V]$.
#
# <details><summary>Hint</summary>
# This is the loop of <code>forward_by_hand</code> above, with the decoder step passed in
# and the coins drawn for you: use them, draw nothing. Keep each step's logits in a list;
# the model's own previous token is then the most likely token of the list's last entry,
# one per row. Which column of <code>tgt_in</code> holds y_{t-1}, given that column 0 is
# <code>&lt;sos&gt;</code>?
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch02 import check_teacher_forcing


def decode_with_teacher_forcing(step, tgt_in, coins):
    # your code here
    raise NotImplementedError


check_teacher_forcing(decode_with_teacher_forcing)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import torch

from seq2code.exercises.ch02 import check_teacher_forcing


def decode_with_teacher_forcing(step, tgt_in, coins):
    """Logits [B, T, V] of every step; step t reads tgt_in[:, t] (gold) where coins[t]."""
    logits = []
    for t in range(tgt_in.size(1)):
        if t == 0 or coins[t]:
            prev = tgt_in[:, t]  # [B]  the gold y_{t-1} (<sos> at t = 0)
        else:
            prev = logits[-1].argmax(dim=-1)  # [B]  the model's own y_{t-1}
        logits.append(step(prev))  # [B, V]
    return torch.stack(logits, dim=1)  # [B, T, V]


check_teacher_forcing(decode_with_teacher_forcing, strict=True)

# %% [markdown]
# ### Exercise 6: one training step
#
# Write `training_step(model, optimizer, batch)`, one step of training on `batch` (a
# `Batch`: `src`, `src_lens`, `tgt_in`, `tgt_out`).
# `model.loss(batch.src, batch.src_lens, batch.tgt_in, batch.tgt_out)` runs the model and
# returns the batch's mean loss. The model may come straight from an evaluation, in eval
# mode. Put it in training mode, clear the previous step's gradients, compute the loss
# and its gradient, clip the gradient's norm at 1.0, update the weights, and return the
# loss as a number. The check calls your step twice, on a small model with dropout.
#
# <details><summary>Hint</summary>
# Five things happen, in a fixed order. For each, ask what goes wrong if it is missing or
# comes later: is dropout on while the model is in eval mode? What does
# <code>backward</code> do to gradients that are still there from the last step? Which
# gradient does the optimizer use if you clip after it has moved the weights?
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch02 import check_training_step


def training_step(model, optimizer, batch):
    # your code here
    raise NotImplementedError


check_training_step(training_step)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
from torch import nn

from seq2code.exercises.ch02 import check_training_step


def training_step(model, optimizer, batch):
    """One training step on ``batch``; returns the batch's loss as a float."""
    model.train()  # dropout on, whatever mode an evaluation left
    optimizer.zero_grad()  # backward adds to .grad: clear the last step's gradients
    loss = model.loss(batch.src, batch.src_lens, batch.tgt_in, batch.tgt_out)  # scalar
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # before the step uses the gradient
    optimizer.step()
    return loss.item()


check_training_step(training_step, strict=True)

# %% [markdown]
# ### Questions: what went wrong?
#
# Exact match calls a line wrong whatever went wrong. The next cell prints ten wrong dev
# lines of this chapter's trained model, from the report of "What it generates" above. The
# model answer comes after it, folded in the book: open it once you have your own.
#
# 1. For each of the ten, name the most likely cause. Compare the prediction with the
#    reference token by token: where do they part, and what could the model have known
#    there?
# 2. Which of these errors could no decoder avoid with this model's code vocabulary, and
#    which are the model's own?
# 3. Which look like the two weaknesses of this chapter, the single vector $h_S$ that must
#    carry the whole description and the exposure to its own mistakes? Which tool of a
#    later chapter would you try on each?
#
# <details><summary>Hint</summary>
# Some causes to look for: a name or string that is not in the model's code vocabulary
# (<code>rnn.tgt_vocab</code>), a line longer than the decoder may write, a single wrong
# or missing token, a prediction that stops too soon or repeats itself, one wrong from the
# first token, one that starts right and then goes astray.
# </details>

# %%
wrong = report.samples(10, exact=False)  # the first ten wrong dev lines
n_wrong = sum(not p["exact"] for p in report.predictions)
print(f"{n_wrong} of {len(report.predictions)} dev lines are wrong; the first "
      f"{len(wrong)}:\n")
for i, p in enumerate(wrong, start=1):
    print(f"{i:2}. English:    {p['nl']}\n    reference:  {p['reference']}\n"
          f"    prediction: {p['prediction']}\n")

# %% tags=["hide-input", "hide-output"] cellView="form"
# @title Model answer
from collections import Counter

from IPython.display import Markdown, display

from seq2code.exercises.ch02 import ERROR_CAUSES, error_cause
from seq2code.tables import Table
from seq2code.tokens import tokenize_nl

all_wrong = [p for p in report.predictions if not p["exact"]]
causes = [error_cause(p["reference"], p["prediction"], rnn.tgt_vocab, rnn.max_tgt_len)
          for p in all_wrong]
shown = Counter(causes[:len(wrong)])
overall = Counter(causes)
display(Table(["line", "reference", "prediction", "likely cause"],
              [[i, p["reference"], p["prediction"], cause] for i, (p, cause)
               in enumerate(zip(wrong, causes, strict=False), start=1)],
              formats=["d", "code", "code", None]))
display(Table(["cause", "what it means", f"of the {len(wrong)} above",
               "of all wrong dev lines"],
              [[cause, meaning, shown[cause],
                f"{overall[cause]} ({overall[cause] / len(causes):.0%})"]
               for cause, meaning in ERROR_CAUSES.items() if overall[cause]],
              formats=[None, None, "d", None]))

right_nl = [len(tokenize_nl(p["nl"])) for p in report.predictions if p["exact"]]
wrong_nl = [len(tokenize_nl(p["nl"])) for p in all_wrong]
mean_right = sum(right_nl) / len(right_nl) if right_nl else float("nan")
mean_wrong = sum(wrong_nl) / len(wrong_nl)
top_n = max(overall.values())
top = " and ".join(f"*{cause}*" for cause in ERROR_CAUSES if overall[cause] == top_n)
unwritable = overall["unknown token"] + overall["too long"]
if not right_nl:
    length_sentence = "No dev line is right, so there is no length to compare."
elif mean_wrong > mean_right:
    length_sentence = (
        f"The wrong lines' descriptions are longer on average, {mean_wrong:.1f} English "
        f"tokens against {mean_right:.1f} for the right ones: the single vector $h_S$ "
        "has more to carry.")
else:
    length_sentence = (
        f"The wrong lines' descriptions are not longer on average ({mean_wrong:.1f} "
        f"English tokens against {mean_right:.1f} for the right ones): here, length "
        "alone does not tell them apart.")
display(Markdown(
    f"**1.** The table names a cause for each line (the first of the list that applies). "
    f"Over all {len(causes)} wrong dev lines the commonest "
    f"{'cause is' if ' and ' not in top else 'causes are'} {top}, {top_n} lines "
    f"{'' if ' and ' not in top else 'each '}({top_n / len(causes):.0%}).\n\n"
    f"**2.** {unwritable} of the {len(causes)} wrong lines "
    f"({unwritable / len(causes):.0%}) could not be right with this model: their "
    "reference holds a token outside its code vocabulary, or more tokens than it may "
    "write. Every other error is the model's own.\n\n"
    "**3.** A wrong first token, or a good start that goes astray, points to the "
    "bottleneck: every step must find its word in the one vector $h_S$. Attention "
    "(chapter 4) lets each step look at the English again. A prediction that loops, or "
    "that goes astray after one wrong token, points to exposure bias: the decoder reads "
    "its own mistake and has not learned to recover. Coverage (chapter 7) keeps track of "
    "what has been written, and beam search (chapter 6) keeps other continuations alive. "
    "Rare names and string literals cannot come out of a closed vocabulary: the copy "
    f"mechanism (chapter 7) copies them from the English. {length_sentence}"))

# %% tags=["outcome", "remove-cell"]
# The model answer's numbers: every wrong line has one cause; the ten shown are the first
# ten wrong lines; the commonest cause is the most frequent; the length sentence follows
# the means.
assert len(causes) == n_wrong == sum(overall.values())
assert set(overall) <= set(ERROR_CAUSES)
assert [p["index"] for p in wrong] == [p["index"] for p in all_wrong[:10]]
assert all(overall[cause] == top_n for cause in top.replace("*", "").split(" and "))
assert unwritable == overall["unknown token"] + overall["too long"] <= len(causes)
assert (not right_nl) or (("are longer" in length_sentence) == (mean_wrong > mean_right))

# %% [markdown]
# ## Summary
#
# - A vanilla RNN applies $h_t = \tanh(W_{xh} x_t + W_{hh} h_{t-1} + b)$ step by step; our
#   explicit loop computes exactly what `nn.RNN` does.
# - The encoder-decoder hands the decoder one vector, the encoder's last state; the decoder
#   reads `<sos> y1 … yn` and predicts `y1 … yn <eos>`, the same line shifted by one.
# - Teacher forcing trades fast training for exposure bias; per-step and per-sequence coins
#   mix gold and own tokens differently.
# - The forward pass (one coin per step, the argmax fed back), the loss (the mean of
#   $-\log p(y_t)$ over the real tokens, padding masked) and the training step (zero_grad,
#   loss, backward, clip, step) fit in a few lines each; our loop of one epoch ends with the
#   same weights as the library's `train`, which adds dev scores, checkpoints and the
#   learning-rate schedule around it.
# - The trained model beats the most-frequent-line baseline, but its exact match falls with
#   the input length, and the gradient reaching the first encoder states is a small
#   fraction of that at the last: the vanishing-gradient problem that the LSTM (chapter 3)
#   and attention (chapter 4) address.
