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
# # 8. Multi-head attention and the Transformer
#
# Chapter 4's decoder asks one question of the English at every step: one query, one set
# of weights, one context vector. **Multi-head attention** asks several at once, each with
# its own learned view of the words. The **Transformer** (Vaswani et al., 2017) then drops
# the recurrence altogether: every position of the English and of the code attends to the
# others, layer after layer, and the order of the words enters through positional
# encodings. This chapter builds both on the same data and budget as chapter 4, and closes
# the course with one table of every model we built.
#
# **What you will learn**
#
# - scaled dot-product attention, $\mathrm{softmax}(QK^\top/\sqrt{d_k})\,V$, and why the
#   $\sqrt{d_k}$ is there;
# - multi-head attention, written from scratch and checked against PyTorch's
#   `nn.MultiheadAttention`, first inside chapter 4's LSTM;
# - sinusoidal positional encodings, and why a Transformer needs them;
# - the causal mask that lets a decoder train on every position at once without seeing
#   the future, and the cache that decodes one token at a time;
# - why a Transformer trains with teacher forcing 1.0;
# - a Transformer decoder layer assembled by hand from this chapter's attention, and checked
#   against the library's layer on the trained model;
# - what the heads look at, and how both models compare with chapter 4's;
# - the closing table: every model of the course beside the published Django results and
#   the `full` profile's measured figures.

# %% tags=["hide-input"]
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from torch import nn

from seq2code import models
from seq2code.batching import collate, pad
from seq2code.decoding import greedy_decode
from seq2code.experiment import evaluate_model, prepare_data, train_model
from seq2code.models import build_model, count_parameters, expected_parameters
from seq2code.models.base import evaluating, on_model_device
from seq2code.models.multihead import (
    MultiHeadAttention,
    MultiHeadLSTMDecoder,
    head_attention,
    scaled_dot_product_attention,
)
from seq2code.models.transformer import (
    DecoderLayer,
    EncoderLayer,
    TransformerDecoder,
    causal_mask,
    sinusoidal_positions,
)
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
from seq2code.vocab import SOS_ID

torch.manual_seed(0)
use_book_style()  # figures drawn for the book's column, their labels at the text's size
profile = get_profile()
print(profile.describe())


# %% [markdown]
# ## 8.1 Scaled dot-product attention
#
# Chapter 4 scored a query $s_{t-1}$ against each encoder state $h_s$ with a small network,
# $v^\top \tanh(W_q s_{t-1} + W_k h_s)$. The Transformer uses a plainer score: the dot product
# of a **query** $q_t$ with a **key** $k_s$. Stack the $T$ queries as the rows of $Q$
# (`[T, d_k]`), the $S$ keys as the rows of $K$ (`[S, d_k]`) and the **values** that are
# mixed as the rows of $V$ (`[S, d_v]`):
#
# $$
# \mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V ,
# $$
#
# where the softmax runs over each row (over the keys), with the padded keys masked to
# weight 0 exactly as in chapter 4 (the same `masked_softmax`). All $T \times S$ scores are
# one matrix product: no hidden layer per pair, which matters when, as in a Transformer,
# every position is a query.
#
# First from scratch, one query at a time: its scores against every key, the softmax over
# the keys it may see, the weighted sum of the values. The function takes a mask per query,
# `visible` `[T, S]`, so that it serves padding and, in section 8.5, the causal mask alike;
# section 8.8 builds a whole Transformer layer from it. Then the library's function on the
# same numbers.

# %%
def attention_by_hand(Q, K, V, visible):
    """One head, one sentence: ``Q`` [T, d_k], ``K`` [S, d_k], ``V`` [S, d_v] and
    ``visible`` [T, S] bool (True where query t may look at key s).

    Returns the outputs [T, d_v] and the weights alpha [T, S]."""
    T, S = visible.shape
    outputs = Q.new_zeros(T, V.size(1))  # [T, d_v]
    weights = Q.new_zeros(T, S)  # [T, S]
    for t in range(T):  # one query at a time
        scores = K @ Q[t] / math.sqrt(Q.size(1))  # [S]  q_t . k_s / sqrt(d_k)
        scores = scores.masked_fill(~visible[t], -math.inf)  # hidden keys: exp(-inf) = 0
        exps = torch.exp(scores - scores.max())  # [S]  (less the largest: no overflow)
        weights[t] = exps / exps.sum()  # [S]  alpha_{t,s}, sums to 1 over visible keys
        outputs[t] = weights[t] @ V  # [d_v]  sum_s alpha_{t,s} v_s
    return outputs, weights


g = torch.Generator().manual_seed(0)
Q = torch.randn(2, 4, generator=g)  # T = 2 queries, d_k = 4
K = torch.randn(3, 4, generator=g)  # S = 3 keys
V = torch.randn(3, 2, generator=g)  # S = 3 values, d_v = 2
real = torch.tensor([True, True, False])  # the third key is padding
out_scratch, weights_scratch = attention_by_hand(Q, K, V, real.expand(2, 3))  # [T, S]

# the library works on [B, h, T, d_k]: one batch row, one head
out_lib, weights_lib = scaled_dot_product_attention(Q[None, None], K[None, None],
                                                    V[None, None], real[None])
torch.testing.assert_close(out_lib[0, 0], out_scratch)
torch.testing.assert_close(weights_lib[0, 0], weights_scratch)
print("weights (rows: queries, columns: keys):\n", weights_lib[0, 0])
print("from scratch and library agree")

# %% tags=["hide-output"]
show_source(scaled_dot_product_attention)

# %% [markdown]
# **Why divide by $\sqrt{d_k}$?** If the entries of $q$ and $k$ are independent with mean 0
# and variance 1, their dot product $\sum_{i=1}^{d_k} q_i k_i$ has variance $d_k$. With
# $d_k = 64$ the raw scores spread over tens of units, the softmax puts almost all weight on
# one key, and its gradient nearly vanishes. Dividing by $\sqrt{d_k}$ brings the spread back
# to 1 whatever the head size. Measured on random vectors:

# %% tags=["hide-input"]
rows = []
for d_k in (4, 16, 64, 256):
    q = torch.randn(2000, d_k, generator=g)
    k = torch.randn(2000, 10, d_k, generator=g)  # 10 keys per query
    raw = torch.einsum("nd,nsd->ns", q, k)  # [2000, 10]
    rows.append([d_k, raw.std().item(), (raw / math.sqrt(d_k)).std().item(),
                 torch.softmax(raw, -1).max(-1).values.mean().item(),
                 torch.softmax(raw / math.sqrt(d_k), -1).max(-1).values.mean().item()])
Table(["d_k", "std of q·k", "std of q·k / √d_k", "largest weight, unscaled",
       "largest weight, scaled"], rows, formats=[None, ".2f", ".2f", ".2f", ".2f"])

# %% tags=["outcome", "remove-cell"]
# The claim: the unscaled spread grows like sqrt(d_k), the scaled one stays near 1, and
# the unscaled softmax is nearly one-hot for large d_k while the scaled one is not.
assert rows[-1][1] > 12 and all(0.9 < r[2] < 1.1 for r in rows)
assert rows[-1][3] > 0.8 and rows[-1][4] < 0.6

# %% [markdown]
# ## 8.2 Multi-head attention
#
# One attention gives each query one weighted average. **Multi-head attention** runs $h$
# of them side by side, each on its own learned projections of size $d_k = d/h$, and mixes
# their results with one more matrix:
#
# $$
# \mathrm{head}_i = \mathrm{Attention}(Q W_i^Q,\; K W_i^K,\; V W_i^V), \qquad
# \mathrm{MultiHead}(Q, K, V) = [\mathrm{head}_1; \dots; \mathrm{head}_h]\, W^O .
# $$
#
# One head can follow the name that the code copies while another follows the verb that
# picks the statement. The cost is that of a single attention of size $d$: the $h$
# projections $W_i^Q$ are the $h$ slices of one $d \times d$ matrix $W^Q$, so the library
# projects once and cuts the result into heads (`split_heads`). Parameters:
# $4(d^2 + d)$ for $W^Q, W^K, W^V, W^O$ and their biases, whatever $h$.

# %%
show_source(MultiHeadAttention)

# %% [markdown]
# PyTorch has the same function, `nn.MultiheadAttention`. Copy its weights into ours and
# both give the same outputs and the same per-head weights, padding mask included:

# %%
torch.manual_seed(0)
reference = nn.MultiheadAttention(16, 4, batch_first=True)
ours = MultiHeadAttention(16, 4).load_from_torch(reference)
query, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)  # [B, T, d], [B, S, d]
mask = torch.tensor([[True] * 5, [True, True, False, False, False]])  # [B, S]
expected, expected_heads = reference(query, memory, memory, key_padding_mask=~mask,
                                     average_attn_weights=False)
output, heads = ours(query, memory, mask)
torch.testing.assert_close(output, expected)
torch.testing.assert_close(heads, expected_heads)
print(f"outputs {tuple(output.shape)} and per-head weights {tuple(heads.shape)} match "
      f"nn.MultiheadAttention; parameters: ours {count_parameters(ours)}, "
      f"PyTorch's {count_parameters(reference)}, 4(d² + d) = {4 * (16 * 16 + 16)}")


# %% [markdown]
# The formula once more, by hand, on the same module's weights: project once, give head $i$
# the columns $i\,d_k$ to $(i+1)\,d_k - 1$ of $Q W^Q$, $K W^K$ and $V W^V$, run section
# 8.1's `attention_by_hand` on each head, put the heads side by side and multiply by $W^O$.
# Section 8.8 reuses it to build a decoder layer.

# %%
def multi_head_by_hand(mha, queries, memory, visible):
    """``[head_1; ...; head_h] W^O`` for one sentence, from the weights of a
    MultiHeadAttention: ``queries`` [T, d], ``memory`` [S, d], ``visible`` [T, S] bool.

    Returns the outputs [T, d] and every head's weights alpha [h, T, S]."""
    W_q, W_k, W_v, W_o = mha.W_q, mha.W_k, mha.W_v, mha.W_o
    Q = queries @ W_q.weight.T + W_q.bias  # [T, d]  Q W^Q, every head side by side
    K = memory @ W_k.weight.T + W_k.bias  # [S, d]  K W^K
    V = memory @ W_v.weight.T + W_v.bias  # [S, d]  V W^V
    d_k, heads, weights = mha.head_dim, [], []
    for i in range(mha.heads):
        cols = slice(i * d_k, (i + 1) * d_k)  # head i's d_k columns
        head, alpha = attention_by_hand(Q[:, cols], K[:, cols], V[:, cols], visible)
        heads.append(head)  # [T, d_k]  head_i
        weights.append(alpha)  # [T, S]
    concat = torch.cat(heads, dim=1)  # [T, d]  [head_1; ...; head_h]
    return concat @ W_o.weight.T + W_o.bias, torch.stack(weights)  # [T, d], [h, T, S]


with torch.no_grad():
    for b in range(2):  # one sentence at a time, its padding mask given to every query
        by_hand, by_hand_heads = multi_head_by_hand(ours, query[b], memory[b],
                                                    mask[b].expand(3, 5))  # [T, S]
        torch.testing.assert_close(by_hand, output[b])
        torch.testing.assert_close(by_hand_heads, heads[b])
print("by hand, head by head: the same outputs and weights")

# %% [markdown]
# ## 8.3 Multi-head attention in chapter 4's LSTM
#
# The kind `multihead` is chapter 4's model with this attention in place of the additive
# one: the query is the decoder's previous state $s_{t-1}$, the keys and values are the
# encoder states $h_1 \dots h_S$ (projected once per sentence, as chapter 4 did for
# $W_k h_s$), with $d = H$, the LSTM's state size. The shared interface returns the mean
# of the heads' weights as the step's attention; the heads' own weights travel in the
# decoder's state, where section 8.9 reads them.

# %% tags=["hide-output"]
show_source(MultiHeadLSTMDecoder)

# %% tags=["remove-input"]
course_multihead = build_model("multihead", 100, 100).decoder.attention  # course sizes
display(Markdown(
    f"With the course's sizes: $d = H = {course_multihead.W_q.out_features}$, "
    f"{course_multihead.heads} heads of $d_k = {course_multihead.head_dim}$."))

# %% [markdown]
# ## 8.4 Positions
#
# Attention is blind to order: it compares every position with every other, and a sum
# over positions does not change when they are shuffled. An encoder layer without any
# notion of position is therefore *permutation-equivariant*: shuffle the English words and
# its outputs are the same vectors, shuffled the same way. A check on one encoder layer:

# %%
torch.manual_seed(0)
layer = EncoderLayer(dim=16, heads=4, ff_dim=32).eval()
words = torch.randn(1, 6, 16)  # [B, S, d] six "embedded words", no positions added
shuffle = torch.tensor([3, 0, 5, 1, 4, 2])
all_real = torch.ones(1, 6, dtype=torch.bool)
torch.testing.assert_close(layer(words[:, shuffle], all_real),
                           layer(words, all_real)[:, shuffle])
print("without positions, shuffling the input only shuffles the output")

# %% [markdown]
# "return x if y" and "return y if x" must not look the same. The Transformer adds to the
# embedding of the token at position $p$ a fixed vector of sines and cosines of
# geometrically spaced frequencies:
#
# $$
# PE_{p, 2i} = \sin\!\big(p / 10000^{2i/d}\big), \qquad
# PE_{p, 2i+1} = \cos\!\big(p / 10000^{2i/d}\big).
# $$
#
# Low columns turn fast, high ones slowly, so every position gets a distinct pattern, and
# $PE_{p+\Delta}$ is a rotation of $PE_p$ that depends only on the offset $\Delta$, which
# makes relative offsets easy to read for a linear layer. (The embeddings are multiplied by
# $\sqrt{d}$ before the sum, as in the paper, so that the two are of similar size.)

# %% tags=["hide-output"]
show_source(sinusoidal_positions)

# %% tags=["hide-input"]
pe = sinusoidal_positions(60, 128)  # [positions, d]
fig, ax = column_figure(row_height=3.2)
image = ax.imshow(pe.T.numpy(), cmap="RdBu", aspect="auto", vmin=-1, vmax=1)
ax.set(xlabel="position p", ylabel="column (2i: sin, 2i+1: cos)",
       title="sinusoidal positional encodings, d = 128")
fig.colorbar(image, ax=ax)
plt.show()

# %% tags=["outcome", "remove-cell"]
# Every position of a sentence gets its own encoding (no two rows alike).
distances = torch.cdist(pe, pe) + torch.eye(60) * 1e3
assert distances.min() > 0.1

# %% [markdown]
# ## 8.5 The causal mask
#
# With teacher forcing the decoder knows the whole gold code line in advance. An RNN reads
# it one token at a time, so position $t$ can only have seen $y_{<t}$. A Transformer
# decoder processes all positions at once, and its self-attention would happily let
# position $t$ look at $y_t$, the very token it must predict. The **causal mask** forbids
# it: query $t$ may look at key $s$ only when $s \le t$,
#
# $$
# M_{t,s} = \begin{cases} \text{True} & s \le t \\ \text{False} & s > t \end{cases}
# $$
#
# a lower triangle, handed to the same `masked_softmax` as the padding masks. (The target's
# own padding needs no mask: it comes after the real tokens, which the triangle already
# hides it from.)

# %%
print(causal_mask(5).int())
show_source(causal_mask)

# %% [markdown]
# The proof that it works: change a token late in the code and the logits of every
# earlier position stay exactly the same.

# %%
torch.manual_seed(0)
tiny = build_model("transformer", 20, 30, emb_dim=16, hidden_dim=32).eval()
src = torch.randint(4, 20, (1, 6))
tgt_in = torch.tensor([[SOS_ID, 5, 6, 7, 8, 9, 10]])
changed = tgt_in.clone()
changed[0, 4] = 11  # the input at position 4
before = tiny(src, torch.tensor([6]), tgt_in).logits
after = tiny(src, torch.tensor([6]), changed).logits
change = (after - before).abs().amax(-1)[0]  # [T] each position's largest logit change
print("largest change of the logits, per position:",
      [f"{c:.2g}" for c in change.tolist()])

# %% tags=["outcome", "remove-cell"]
assert (change[:4] == 0).all() and (change[4:] > 0).all()

# %% [markdown]
# ## 8.6 The Transformer, layer by layer
#
# Our small Transformer (kind `transformer`) stacks a few encoder and decoder layers; its
# model width $d$ is the embedding size (the residual stream carries embeddings) and its
# feed-forward size $d_{ff}$ is the `hidden_dim` of the shared interface (the sizes are
# printed below). It uses our `MultiHeadAttention` rather than `nn.MultiheadAttention`
# (the same function, section 8.2) so that the heads can be shown.
#
# - **Encoder layer**: self-attention over the English (padding mask), then the
#   position-wise network $\max(0, x W_1 + b_1) W_2 + b_2$.
# - **Decoder layer**: causal self-attention over the code so far, **cross-attention** over
#   the encoder's outputs (padding mask), then the feed-forward network.
# - **Pre-norm**: each sub-layer reads a normalised copy of its input and adds its result,
#   $x \leftarrow x + \mathrm{Sublayer}(\mathrm{LayerNorm}(x))$, with a last LayerNorm on
#   top of each stack (Xiong et al., 2020). The paper's post-norm,
#   $x \leftarrow \mathrm{LayerNorm}(x + \mathrm{Sublayer}(x))$, puts every residual path
#   through a normalisation and needs a learning-rate warm-up to train; pre-norm keeps a
#   clean residual path and trains with the course's plain Adam, which has no warm-up.

# %% tags=["remove-input"]
course_transformer = build_model("transformer", 100, 100)  # the course's sizes
first = course_transformer.decoder.layers[0]
display(Markdown(
    f"With the course's sizes: {len(course_transformer.encoder.layers)} encoder and "
    f"{len(course_transformer.decoder.layers)} decoder layers, $d = "
    f"{first.self_attention.W_q.out_features}$, {first.self_attention.heads} heads of "
    f"$d_k = {first.self_attention.head_dim}$, $d_{{ff}} = "
    f"{first.feed_forward[0].out_features}$, dropout {first.dropout.p}."))

# %% tags=["hide-output"]
show_source(EncoderLayer)

# %% [markdown]
# The decoder layer is written by hand from this chapter's attention in section 8.8, once the
# model is trained, and its library source is shown there, beside the check.
#
# Greedy decoding, beam search and evaluation call the decoder one token at a time
# (`Decoder.forward(prev, state, enc)` of the shared interface). The Transformer's state is
# a cache: every layer's inputs at the positions decoded so far. A new token computes only
# its own position, whose queries attend over the cached positions and itself. It gives
# the same logits as the whole sequence at once (`forward_sequence`, used in training):

# %%
show_source(TransformerDecoder)

# %%
enc = tiny.encode(src, torch.tensor([6]))
whole = tiny.decoder.forward_sequence(tgt_in, tiny.decoder.init_state(enc), enc).logits
state, steps = tiny.decoder.init_state(enc), []
for t in range(tgt_in.size(1)):
    step = tiny.decoder(tgt_in[:, t], state, enc)
    state = step.state
    steps.append(step.logits)
torch.testing.assert_close(torch.stack(steps, dim=1), whole)
print(f"{tgt_in.size(1)} steps one at a time = one call on the whole sequence; "
      f"the cache holds {len(state.inputs)} layers of inputs "
      f"{tuple(state.inputs[0].shape)} "
      f"[B, t, d]")

# %% [markdown]
# ## 8.7 Training on chapter 4's data and budget
#
# Same data, same epochs, the same training loop as chapter 4 (Adam, its learning rate cut
# when the dev loss stalls, gradients clipped; the values are printed below). One difference
# for the Transformer: **teacher forcing 1.0**. Chapters 2 to 4 fed the model its own prediction
# at half of the steps, which costs a recurrent model nothing extra, since it runs one step
# at a time anyway. A Transformer's advantage is that training runs every position at once,
# under the causal mask; feeding back its own predictions would make position $t$ wait for
# the prediction at $t-1$, one full decoder pass per position, and throw that advantage
# away. So it trains on the gold prefix only, as in the paper. (`train_model` uses
# teacher forcing 1.0 for this kind by default; we pass it explicitly to show it.) The
# multi-head LSTM keeps chapter 4's strategy and its teacher forcing.

# %%
from seq2code.plan import CHAPTERS, plan_training

data = prepare_data(profile)
print(plan_training(CHAPTERS[8], data))  # what this chapter trains, and for how long

# %%
attention = train_model("attention", data=data)
multihead = train_model("multihead", data=data)
transformer = train_model("transformer", data=data,
                          train_options={"teacher_forcing": 1.0})
trio = {"LSTM + additive attention (ch. 4)": attention,
        "LSTM + multi-head attention": multihead, "Transformer": transformer}
Table(["model", "parameters", "from the formula", "teacher forcing", "epochs",
       "seconds per epoch", "from the cache"],
      [[name, count_parameters(t.model),
        expected_parameters(t.kind, len(data.src_vocab), len(data.tgt_vocab)),
        t.config["train_config"]["teacher_forcing"], len(t.history.dev_loss),
        float(np.mean(t.history.epoch_seconds)), t.from_cache]
       for name, t in trio.items()],
      formats=[None, ",d", ",d", ".1f", None, ".0f", None])

# %% tags=["remove-input"]
shared = transformer.config["train_config"]
display(Markdown(
    f"All three: Adam at learning rate {shared['lr']:g}, multiplied by "
    f"{shared['plateau_factor']:g} after {shared['plateau_patience']} epoch(s) "
    f"without a lower dev loss, gradients clipped at norm {shared['clip']:g}, "
    f"batches of {shared['batch_size']}."))

# %% tags=["hide-input"]
fig, axes = column_figure(2, row_height=2.8, sharex=True)
for name, t in trio.items():
    epochs = range(1, len(t.history.dev_loss) + 1)
    axes[0].plot(epochs, t.history.dev_loss, marker="o", label=name)
    axes[1].plot(epochs, [100 * x for x in t.history.dev_exact_match], marker="o",
                 label=name)
axes[0].set(ylabel="dev loss (per token)", title="dev loss")
axes[1].set(xlabel="epoch", ylabel="dev exact match (%)",
            title="dev exact match (greedy)")
whole_epochs(*axes)
axes[0].legend()
plt.show()

# %% tags=["outcome", "remove-cell"]
# The Transformer trains: its dev loss falls, and so does the multi-head LSTM's.
assert transformer.history.dev_loss[-1] < transformer.history.dev_loss[0]
assert min(multihead.history.dev_loss) < multihead.history.dev_loss[0]
assert transformer.config["train_config"]["teacher_forcing"] == 1.0


# %% [markdown]
# ## 8.8 A decoder layer by hand
#
# Every piece of a decoder layer is now on the table: the attention of section 8.1, the heads
# of section 8.2, the causal mask of section 8.5. For one code line, write $x$ (`[T, d]`) for
# a layer's inputs at the $T$ positions, as in section 8.6 (the embeddings with their
# positions for the first layer, the previous layer's outputs for the others), and
# $h_{1 \dots S}$ (`[S, d]`) for the encoder's outputs $h_1 \dots h_S$. The library's pre-norm
# layer computes
#
# $$
# \begin{aligned}
# x' &= x + \mathrm{MultiHead}_{\text{self}}\big(\mathrm{LN}_1(x),\, \mathrm{LN}_1(x),\, \mathrm{LN}_1(x)\big), \\
# x'' &= x' + \mathrm{MultiHead}_{\text{cross}}\big(\mathrm{LN}_2(x'),\, h_{1 \dots S},\, h_{1 \dots S}\big), \\
# \mathrm{out} &= x'' + \max\!\big(0,\, \mathrm{LN}_3(x'')\, W_1 + b_1\big)\, W_2 + b_2 ,
# \end{aligned}
# $$
#
# where the self-attention's query $t$ sees the positions $s \le t$ only (the causal mask),
# the cross-attention's queries see every real English word (the padding mask), and
# $\mathrm{LN}(x) = w_\text{LN} \odot (x - \mu) / \sqrt{\sigma^2 + \epsilon} + b_\text{LN}$
# normalises each position's $d$ features by their own mean $\mu$ and variance $\sigma^2$,
# with a learned scale $w_\text{LN}$ and shift $b_\text{LN}$ per LayerNorm. Dropout is off,
# as in evaluation.
# Written with this chapter's own functions, one sentence at a time:

# %%
def layer_norm_by_hand(norm, x):
    """``w_LN (x - mu) / sqrt(sigma^2 + eps) + b_LN`` over each row of ``x`` [T, d]."""
    mu = x.mean(dim=-1, keepdim=True)  # [T, 1]
    var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)  # [T, 1]  sigma^2
    return norm.weight * (x - mu) / torch.sqrt(var + norm.eps) + norm.bias  # [T, d]


def decoder_layer_by_hand(layer, x, states, real):
    """One pre-norm decoder layer for one code line, from a DecoderLayer's weights,
    dropout off: ``x`` [T, d] the layer's inputs, ``states`` [S, d] the encoder's
    outputs h_1..h_S, ``real`` [S] True at the real English words.

    Returns the layer's outputs [T, d]."""
    T, S = x.size(0), states.size(0)
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()  # [T, T]  s <= t
    normed = layer_norm_by_hand(layer.norm1, x)  # [T, d]  LN_1(x)
    x = x + multi_head_by_hand(layer.self_attention, normed, normed, causal)[0]  # x'
    normed = layer_norm_by_hand(layer.norm2, x)  # [T, d]  LN_2(x')
    x = x + multi_head_by_hand(layer.cross_attention, normed, states,
                               real.expand(T, S))[0]  # [T, d]  x''
    W_1, W_2 = layer.feed_forward[0], layer.feed_forward[3]  # d -> d_ff -> d
    normed = layer_norm_by_hand(layer.norm3, x)  # [T, d]  LN_3(x'')
    hidden = torch.relu(normed @ W_1.weight.T + W_1.bias)  # [T, d_ff]
    return x + hidden @ W_2.weight.T + W_2.bias  # [T, d]


# %% [markdown]
# The check runs on the Transformer trained in section 8.7 and on a real batch: the first
# eight dev lines, padded. The decoder's cache (section 8.6) holds every layer's inputs at
# every position, so each layer is fed exactly what it reads inside the model; after the
# last layer, the stack's final LayerNorm gives what the output layer reads.

# %%
model = transformer.model
batch = collate(data.pairs["dev"][:8], range(8))  # 8 dev lines, padded
src, src_lens, tgt_in = on_model_device(model, batch.src, batch.src_lens, batch.tgt_in)
with torch.no_grad(), evaluating(model):  # eval mode: no dropout
    dev_enc = model.encode(src, src_lens)  # outputs [B, S, d] h_s; mask [B, S]
    run = model.decoder.features(tgt_in, model.decoder.init_state(dev_enc), dev_enc)
    for number, decoder_layer in enumerate(model.decoder.layers):
        x = run.state.inputs[number]  # [B, T, d]  the layer's inputs, from the cache
        library = decoder_layer(x, x, dev_enc)[0]  # [B, T, d]
        by_hand = torch.stack([decoder_layer_by_hand(decoder_layer, x[b],
                                                     dev_enc.outputs[b], dev_enc.mask[b])
                               for b in range(len(batch))])  # [B, T, d]
        torch.testing.assert_close(by_hand, library)
    top = layer_norm_by_hand(model.decoder.norm, by_hand)  # [B, T, d]  final LayerNorm
    torch.testing.assert_close(top, run.features)
print(f"{len(model.decoder.layers)} decoder layers, {len(batch)} dev lines of up to "
      f"{tgt_in.size(1)} code and {src.size(1)} English positions: by hand = the "
      "library's DecoderLayer, layer by layer, and the final LayerNorm = the decoder's "
      "features")

# %% [markdown]
# The library's layer, the same computation on the whole batch at once (its keys and values
# `seen` may include earlier, cached positions: that is how decoding one token at a time
# reuses it):

# %% tags=["hide-output"]
show_source(DecoderLayer)


# %% [markdown]
# ## 8.9 What the heads look at
#
# For one dev example, each model writes its code greedily; then we run it again on its own
# output (teacher-forced on its own tokens) and read every head's weights: for the
# multi-head LSTM its 4 heads, for the Transformer the 4 heads of the cross-attention of
# its last decoder layer. Each row is one generated token, each column one English word.

# %% tags=["hide-input"]
def heads_for(trained, source):
    """Greedy code for one English token list and every head's weights ``[h, n, S]``."""
    src, src_lens = pad([trained.src_vocab.encode(source)])  # [1, S], [1]
    ids = greedy_decode(trained.model, src, src_lens, trained.max_tgt_len).tokens[0]
    tgt_in = torch.tensor([[SOS_ID, *ids]])  # [1, n + 1]: <sos> y_1 .. y_n
    weights = head_attention(trained.model, src, src_lens, tgt_in)[0, :, : len(ids)]
    return trained.tgt_vocab.decode(ids), weights  # [h, n, S]


example = next(i for i, tokens in enumerate(data.nl_tokens["dev"])
               if 6 <= len(tokens) <= 12)
source = data.nl_tokens["dev"][example][: transformer.max_src_len]
print("English:", data.dev[example].nl)
print("reference:", data.dev[example].code.strip())
for name, trained in [("multi-head LSTM", multihead),
                      ("Transformer (last layer)", transformer)]:
    generated, weights = heads_for(trained, source)
    print(f"{name}: {' '.join(generated)}")
    # One figure per model, its heads two by two: each panel half the column wide.
    fig, axes = column_figure(2, 2, sharex=True, sharey=True,
                              row_height=heatmap_height(min(len(generated), 16),
                                                        per_row=0.2, extra=1.4))
    for h, ax in enumerate(axes.flat):
        token_heatmap(ax, weights[h], source, generated, most_rows=16)
        ax.set_title(f"head {h + 1}")
    fig.suptitle(name)
    plt.show()

# %% tags=["outcome", "remove-cell"]
# Every head's rows are distributions over the real English words.
for trained in (multihead, transformer):
    _, weights = heads_for(trained, source)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:2]))


# %% [markdown]
# Do the heads look at different words, or are they copies of each other? For two heads $a$
# and $b$ and one code position $t$, the total-variation distance
# $\frac{1}{2} \sum_s |\alpha^{(a)}_{t,s} - \alpha^{(b)}_{t,s}|$ is 0 when their weights are
# the same and 1 when they share no word at all. Averaged over the positions and over the
# pairs of heads, on this example:

# %% tags=["hide-input"]
def pair_distances(weights):
    """Mean total-variation distance between the rows of each pair of heads of ``weights``
    ``[h, n, S]``: one number per pair ``(a, b)``, ``a < b``, in that order."""
    h = weights.size(0)
    return np.array([0.5 * (weights[a] - weights[b]).abs().sum(-1).mean().item()
                     for a in range(h) for b in range(a + 1, h)])


spread = {name: pair_distances(heads_for(t, source)[1]).mean() for name, t in
          [("multi-head LSTM", multihead), ("Transformer", transformer)]}
display(Markdown(" · ".join(f"{name}: **{value:.2f}**"
                            for name, value in spread.items())))


# %% [markdown]
# One example is an anecdote. The same distance over the first dev lines, each teacher-forced
# on its reference code (every real code position is a row), gives one number per line and
# model. The two models' numbers on the same lines are paired: resampling the lines with
# replacement gives a 95% interval of their difference (the **paired bootstrap**,
# `seq2code.significance.paired_bootstrap`), and a difference is called one only when the
# interval excludes 0.

# %% tags=["remove-input"]
def distances_per_line(trained, pairs):
    """``pair_distances`` of every line of ``pairs``, teacher-forced on its reference
    code: ``[lines, pairs of heads]``."""
    batch = collate(pairs, range(len(pairs)))
    weights = head_attention(trained.model, batch.src, batch.src_lens,
                             batch.tgt_in)  # [B, h, T, S]
    real = batch.tgt_lens - 1  # [B] real positions of tgt_in: <sos> y_1 .. y_n
    return np.stack([pair_distances(weights[b, :, : real[b]]) for b in range(len(pairs))])


head_lines = data.pairs["dev"][:200]
distances = {"multi-head LSTM": distances_per_line(multihead, head_lines),
             "Transformer": distances_per_line(transformer, head_lines)}
heads_gap = paired_bootstrap(distances["Transformer"].mean(1).tolist(),
                             distances["multi-head LSTM"].mean(1).tolist())
closest = {name: d.mean(0).min() for name, d in distances.items()}  # the closest pair
span = (f"{heads_gap.difference:+.2f} (95% interval {heads_gap.low:+.2f} to "
        f"{heads_gap.high:+.2f}, {heads_gap.n} lines)")
if heads_gap.low > 0:
    gap_sentence = f"The Transformer's heads are further apart than the LSTM's: {span}."
elif heads_gap.high < 0:
    gap_sentence = f"The Transformer's heads are closer together than the LSTM's: {span}."
else:
    gap_sentence = ("The two models' heads are equally far apart, within the noise: "
                    f"{span}.")


def closeness(name):
    value = closest[name]
    if value >= 0.1:
        return f"even its two closest heads differ by {value:.2f}"
    return f"its two closest heads are nearly copies ({value:.2f} apart)"


display(Markdown(
    f"Over {heads_gap.n} dev lines, two heads of the multi-head LSTM are "
    f"**{heads_gap.b:.2f}** apart on average and two heads of the Transformer's last "
    f"layer **{heads_gap.a:.2f}**. {gap_sentence} For the LSTM, "
    f"{closeness('multi-head LSTM')}; for the Transformer, {closeness('Transformer')}."))

# %% tags=["outcome", "remove-cell"]
# The sentence's numbers are the per-line means, the verdict follows the interval, and
# every distance is a distance (0 to 1).
for d in distances.values():
    assert d.shape[0] == len(head_lines) and (d >= 0).all() and (d <= 1 + 1e-6).all()
assert abs(heads_gap.a - distances["Transformer"].mean()) < 1e-9
assert abs(heads_gap.b - distances["multi-head LSTM"].mean()) < 1e-9
assert ("further" in gap_sentence) == (heads_gap.low > 0)
assert ("closer" in gap_sentence) == (heads_gap.high < 0)
for name, value in closest.items():
    assert value == min(distances[name].mean(0))
    assert ("nearly copies" in closeness(name)) == (value < 0.1)

# %% [markdown]
# ## 8.10 Against chapter 4: dev and test
#
# Exact match raw (the code tokens as written) and canonical (the quoted strings that the
# English names behind placeholders, as TranX scores), BLEU (weak on code: it rewards
# near misses that do not run) and the share of outputs that parse. Model selection used
# dev only; the test set is read once here.

# %% tags=["hide-input"]
REPORTS = {}  # kind -> (dev report, test report): each model is evaluated once


def reports_of(trained):
    if trained.kind not in REPORTS:
        REPORTS[trained.kind] = (evaluate_model(trained, data.dev),
                                 evaluate_model(trained, data.test))
    return REPORTS[trained.kind]


def metric_row(name, trained):
    dev, test = (report.metrics for report in reports_of(trained))
    return [name, dev["exact_match"], dev["exact_match_canonical"], test["exact_match"],
            test["exact_match_canonical"], test["bleu"], test["parse_rate"]]


METRIC_HEADERS = ["dev exact", "dev canonical", "test exact", "test canonical",
                  "test BLEU", "test parses"]
METRIC_FORMATS = [".1%", ".1%", ".1%", ".1%", ".1f", ".1%"]
trio_rows = [metric_row(name, t) for name, t in trio.items()]
Table(["model", *METRIC_HEADERS], trio_rows, formats=[None, *METRIC_FORMATS])


# %% [markdown]
# Is a gap in this table a real difference or the luck of this test set? Both models are
# scored on the same lines, so the paired bootstrap of section 8.9 applies, now to exact
# match: 1 for a line that a model gets right, 0 otherwise. A model is called better only
# when the interval of the difference excludes 0.

# %% tags=["hide-input"]
def exact_per_line(trained):
    """1.0 or 0.0 per test line: the raw exact match of each prediction."""
    return [float(p["exact"]) for p in reports_of(trained)[1].predictions]


def compare(name_a, a, name_b, b):
    """``A - B`` on test exact match, line by line, with its paired-bootstrap interval."""
    return paired_bootstrap(exact_per_line(a), exact_per_line(b)), name_a, name_b


def verdict_cell(difference, name_a, name_b):
    if difference.low > 0:
        return f"{name_a} better"
    if difference.high < 0:
        return f"{name_b} better"
    return "within the noise"


ch4 = "LSTM + additive attention (ch. 4)"
mh = "LSTM + multi-head attention"
against_ch4 = [compare(mh, multihead, ch4, attention),
               compare("Transformer", transformer, ch4, attention),
               compare("Transformer", transformer, mh, multihead)]
Table(["A", "B", "A − B, test exact", "95% interval", "lines", "verdict"],
      [[a, b, d.difference, f"{d.low:+.1%} to {d.high:+.1%}", d.n, verdict_cell(d, a, b)]
       for d, a, b in against_ch4], formats=[None, None, "+.1%", None, ",d", None])

# %% tags=["remove-input"]
display(Markdown(f"On the test set, profile `{profile.name}`: "
                 + " ".join(d.verdict(a, b) for d, a, b in against_ch4)))

# %% tags=["outcome", "remove-cell"]
# The bootstrap's means are the table's test exact match, on the same lines; the verdicts
# follow the intervals (the sentences are Difference.verdict, the cells verdict_cell).
test_exact = {row[0]: row[3] for row in trio_rows}
for d, a, b in against_ch4:
    assert abs(d.a - test_exact[a]) < 1e-9 and abs(d.b - test_exact[b]) < 1e-9, (a, b, d)
    assert d.low <= d.difference <= d.high
    assert ("better" in verdict_cell(d, a, b)) == d.clear
assert all(0.0 <= r[1] <= 1.0 and 0.0 <= r[6] <= 1.0 for r in trio_rows)

# %% [markdown]
# ## 8.11 The closing table
#
# Every model of the course, trained by its chapter on this profile's data (read from the
# model cache when the chapters ran first), evaluated the same way. Minutes to train are the
# sum of the epochs' times in each model's training history, on the machine that trained
# it. The exact match columns are greedy decoding; BLEU and parses are on test. The published
# results and the `full` profile's measured figures follow it.

# %% tags=["hide-input"]
COURSE = [("rnn", "RNN", 2), ("lstm", "LSTM", 3), ("attention", "LSTM + attention", 4),
          ("bidirectional", "BiLSTM + attention", 6), ("copy", "attention + copy", 7),
          ("coverage", "copy + coverage", 7), ("multihead", "multi-head LSTM", 8),
          ("transformer", "Transformer", 8)]
closing, course_models, missing = [], {}, []
for kind, name, chapter in COURSE:
    if kind not in models.KINDS:
        missing.append(kind)
        continue
    trained = train_model(kind, data=data)  # the chapter's model, from the cache
    if kind == "transformer":  # its default training is chapter 8's: teacher forcing 1.0
        assert trained.checkpoint_path == transformer.checkpoint_path
    minutes = sum(trained.history.epoch_seconds) / 60 if trained.history else float("nan")
    course_models[name] = trained
    _, dev_exact, _, test_exact, test_canonical, bleu, parses = metric_row(name, trained)
    closing.append([name, kind, chapter, count_parameters(trained.model) / 1e6, minutes,
                    dev_exact, test_exact, test_canonical, bleu, parses])
if missing:
    display(Markdown("**Not yet in the library, skipped:** " + ", ".join(missing)))
display(Markdown(f"**Profile `{profile.name}`**: {len(data.train):,} training pairs, "
                 f"{profile.epochs} epochs, {len(data.dev):,} dev and {len(data.test):,} "
                 "test examples."))
# Shown without the kinds (the `python -m seq2code train` names, in COURSE above): ten
# columns do not fit the book's column.
Table(["model", "ch.", "million params", "minutes", "dev exact", "test exact",
       "test canonical", "BLEU", "parses"], [[row[0], *row[2:]] for row in closing],
      formats=[None, None, ".2f", ".1f", ".1%", ".1%", ".1%", ".1f", ".1%"])

# %% [markdown]
# Each model against chapter 4's LSTM + attention, and the best model against the runner-up,
# on the same test lines (raw exact match, line by line, with the paired-bootstrap interval
# of section 8.10):

# %% tags=["hide-input"]
by_test = sorted(closing, key=lambda row: row[6], reverse=True)  # by test exact match
best, runner_up = by_test[0][0], by_test[1][0]
baseline = "LSTM + attention"
closing_differences = [compare(name, course_models[name], baseline,
                               course_models[baseline])
                       for name in course_models if name != baseline]
top_two = compare(best, course_models[best], runner_up, course_models[runner_up])
Table(["model", f"test exact, model − {baseline}", "95% interval", "verdict"],
      [[a, d.difference, f"{d.low:+.1%} to {d.high:+.1%}", verdict_cell(d, a, b)]
       for d, a, b in closing_differences], formats=[None, "+.1%", None, None])

# %% tags=["remove-input"]
best_row = by_test[0]
leaders = [row[0] for row in by_test if row[6] == best_row[6]]
if len(leaders) == 1:
    lead = (f"the highest test exact match is **{best}**'s, {best_row[6]:.1%} raw and "
            f"{best_row[7]:.1%} canonical. Against the runner-up, "
            f"{top_two[0].verdict(best, runner_up)}")
else:
    lead = (f"{', '.join(leaders[:-1])} and {leaders[-1]} share the highest test exact "
            f"match, {best_row[6]:.1%} raw.")
display(Markdown(
    f"In this run (profile `{profile.name}`) {lead} Against {baseline}, "
    f"{sum(d.low > 0 for d, _, _ in closing_differences)} of the other "
    f"{len(closing_differences)} models are better on test, "
    f"{sum(d.high < 0 for d, _, _ in closing_differences)} worse and "
    f"{sum(not d.clear for d, _, _ in closing_differences)} within the noise."))

# %% tags=["outcome", "remove-cell"]
assert len(closing) + len(missing) == len(COURSE) and len(closing) >= 5
assert all(row[3] > 0 and row[4] > 0 for row in closing)
assert all(by_test[i][6] >= by_test[i + 1][6] for i in range(len(by_test) - 1))
assert best_row[6] == max(row[6] for row in closing) and best in leaders
rows = {row[0]: row for row in closing}
for d, a, b in [*closing_differences, top_two]:  # the bootstrap's means are the table's
    assert abs(d.a - rows[a][6]) < 1e-9 and abs(d.b - rows[b][6]) < 1e-9, (a, b, d)
    assert ("better" in verdict_cell(d, a, b)) == d.clear

# %% [markdown]
# Published results on the Django test set (canonical exact match, full data):

# %% tags=["hide-input"]
PUBLISHED = [("seq2seq with attention (Ling et al., 2016, as reported)", 0.451),
             ("latent predictor network (Ling et al., 2016)", 0.623),
             ("TranX, its training script (Yin & Neubig, 2018-2019)", 0.739),
             ("TranX, released model", 0.772),
             ("TranX with reranking (Yin & Neubig, 2019)", 0.802)]
Table(["published system", "test canonical"], PUBLISHED, formats=[None, ".1%"])

# %% tags=["remove-input"]
best_canonical = max(row[7] for row in closing)
display(Markdown(
    f"This run's highest test canonical exact match, {best_canonical:.1%}, stands "
    f"against {PUBLISHED[0][1]:.1%} published for a seq2seq model with attention and "
    f"{PUBLISHED[-1][1]:.1%} for the best published system; the published systems train "
    f"on all of Django for many epochs, so compare them with the `full` profile, not "
    f"with the `{profile.name}` profile's budget."))

# %% [markdown]
# ### Measured in the full profile, outside the build
#
# The figures below were not computed when this page was built: they were measured on a
# 2-core CPU without a GPU, where one model's `full` run took from a quarter of an hour to
# nearly an hour (the minutes below), more than a book build may spend. Each row comes from
# the two commands given for it, on the date and at the commit given (the library may have
# changed since; the same commands measure the current one). They are the figures of the
# README's table "Measured in the full profile". Dev exact match here is the training
# loop's (token ids: `<unk>` never matches); test is greedy decoding, the test set read once
# per row.

# %% tags=["hide-input"]
MEASURED_FIELDS = ("model", "kind", "date", "commit", "best dev exact", "best epoch",
                   "minutes to the best / to the stop", "test exact", "test canonical",
                   "BLEU", "parses")
FULL_PROFILE_MEASURED = [dict(zip(MEASURED_FIELDS, row, strict=True)) for row in [
    # README.md, "Measured in the full profile", row by row
    ("attention + copy", "copy", "2026-12-03", "9e9cd74", 0.674, "11 of 16",
     "11.7 / 15.4 wall; 7.4 / 10.8 at the median epoch of 40 s",
     0.704, 0.712, 60.2, 0.890),
    ("attention + copy", "copy", "2026-11-27", "d7b74aa", 0.678,
     "12 of 13, stopped by hand", "about 26 (12 epochs of about 130 s)",
     0.710, 0.721, 61.2, 0.886),
    ("LSTM + attention", "attention", "2026-12-03", "34d4702", 0.265, "16 of 21",
     "29.0 / 35.2 wall at one thread",
     0.219, 0.219, 31.2, 0.321),
    ("LSTM + attention", "attention", "2026-11-27", "3591ffa", 0.260, "12 of 17",
     "21 / 30",
     0.212, 0.212, 30.2, 0.309),
    ("LSTM", "lstm", "2026-12-03", "34d4702", 0.230, "22 of 27",
     "21.1 / 24.9 wall at one thread",
     0.179, 0.179, 22.0, 0.335),
    ("copy + coverage", "coverage", "2026-12-03", "6da0527", 0.654, "10 of 15",
     "14.3 / 20.8 wall at one thread",
     0.693, 0.702, 59.3, 0.873),
    ("copy + coverage", "coverage", "2026-11-27", "e420d92", 0.672, "20 of 25",
     "44 / 55",
     0.705, 0.714, 61.0, 0.866),
]]
for row in FULL_PROFILE_MEASURED:
    row["command"] = (f"python -m seq2code train --model {row['kind']} --profile full "
                      f"--out runs/{row['kind']} && python -m seq2code evaluate "
                      f"runs/{row['kind']} --split test --json")
FIGURES = ["best dev exact", "best epoch", "minutes to the best / to the stop",
           "test exact", "test canonical", "BLEU", "parses"]
Table(["model", "commit", *FIGURES],
      [[row["model"], row["commit"], *(row[figure] for figure in FIGURES)]
       for row in FULL_PROFILE_MEASURED],
      formats=[None, "code", ".1%", None, None, ".1%", ".1%", ".1f", ".1%"])

# %% [markdown]
# The two rows of `copy`, of `attention` and of `coverage` are the same model and training
# at two commits; since 9e9cd74 the batches are bucketed by the code's length, so the later
# runs took other paths through training, one run each. The later runs' wall-clock minutes
# are not the faster core's alone: a benchmark ran beside the `copy` run's first two epochs
# (at its median epoch of 40 s the best epoch came after 7.4 minutes), and the other three
# ran at one thread beside another training.

# %% tags=["remove-input"]
def newest(kind):
    """The most recent measured row of ``kind``."""
    return max((row for row in FULL_PROFILE_MEASURED if row["kind"] == kind),
               key=lambda row: row["date"])


coverage_gap = newest("coverage")["test canonical"] - min(
    (row for row in FULL_PROFILE_MEASURED if row["kind"] == "coverage"),
    key=lambda row: row["date"])["test canonical"]
full_lstm, full_attention = newest("lstm")["test exact"], newest("attention")["test exact"]
build_test = {row[0]: row[6] for row in closing}  # this build's test exact match
display(Markdown(
    f"The later `coverage` run stopped earlier and differs from the earlier one by "
    f"{100 * coverage_gap:+.1f} points of test canonical exact match. The `lstm` row, "
    f"trained until dev stopped improving, shows what longer training does to the seed "
    f"models' comparison: the LSTM writes {full_lstm:.1%} of the test lines exactly and the "
    f"attention model {full_attention:.1%}, {100 * (full_attention - full_lstm):.1f} points "
    f"apart; this build's `{profile.name}` models, above, write {build_test['LSTM']:.1%} "
    f"and {build_test['LSTM + attention']:.1%}."))

# %% [markdown]
# Each row's date, commit and commands (folded in the book):

# %% tags=["hide-input", "hide-output"]
for row in FULL_PROFILE_MEASURED:
    print(f"# {row['model']} ({row['kind']}): measured {row['date']}, "
          f"commit {row['commit']}")
    print(row["command"])

# %% tags=["outcome", "remove-cell"]
# The measured figures are the README's, row for row, where the README is at hand (a clone
# of the course; not on Colab).
readme = next((folder / "README.md" for folder in [Path.cwd(), *Path.cwd().parents]
               if (folder / "README.md").exists() and (folder / "seq2code").is_dir()),
              None)
if readme is not None:
    measured = readme.read_text().split("## Measured in the full profile")[1]
    measured = measured.split("\n## ")[0]
    readme_rows = [line for line in measured.splitlines()
                   if line.startswith("| ") and ", commit " in line]
    assert len(readme_rows) == len(FULL_PROFILE_MEASURED), readme_rows
    for row in FULL_PROFILE_MEASURED:
        line = next(text for text in readme_rows if f"(`{row['kind']}`)" in text
                    and f"{row['date']}, commit {row['commit']}" in text)
        for figure in ("best dev exact", "test exact", "test canonical", "parses"):
            assert f"{row[figure]:.1%}" in line, (row, figure, line)
        assert f"| {row['BLEU']:.1f} |" in line and f"({row['best epoch']})" in line, line
        assert row["minutes to the best / to the stop"] in line, (row, line)
        assert row["model"] in line, (row, line)

# %% [markdown]
# Any row of the closing table in the `full` profile (the whole data, the real result) comes
# from the same two commands; on a GPU each model trains in minutes:

# %%
print("\n".join(f"python -m seq2code train --model {kind} --profile full "
                f"--out runs/{kind} && python -m seq2code evaluate runs/{kind} "
                "--split test --json" for kind, _, _ in COURSE if kind in models.KINDS))

# %% [markdown]
# ## 8.12 Exercises
#
# Replace `raise NotImplementedError` with your answer and run the cell: the check under it
# tries your function on small cases and prints a tick, or a hint that names the mistake.
# The solution follows in a hidden cell.
#
# ### Exercise 1: the causal mask
#
# Write `causal_mask(T)`: a `[T, T]` bool tensor, True where query position $t$ (the row)
# may look at key position $s$ (the column), that is where $s \le t$.
#
# <details><summary>Hint</summary>
# Start from a [T, T] tensor that is True everywhere and keep one triangle of it: torch has
# <code>tril</code> and <code>triu</code>. Which triangle holds the entries whose column s is
# at most their row t?
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch08 import check_causal_mask


def causal_mask(T):
    # your code here
    raise NotImplementedError


check_causal_mask(causal_mask)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import torch

from seq2code.exercises.ch08 import check_causal_mask


def causal_mask(T):
    """``[T, T]`` bool, True where key ``s <= t`` (query ``t``): the lower triangle."""
    return torch.ones(T, T, dtype=torch.bool).tril()


check_causal_mask(causal_mask, strict=True)

# %% [markdown]
# ### Exercise 2: scaled dot-product attention
#
# Write `attention(q, k, v, mask)` for one head: queries `q` `[B, T, d_k]`, keys `k`
# `[B, S, d_k]`, values `v` `[B, S, d_v]` and a padding mask `mask` `[B, S]` (True at real
# keys). Return the output `[B, T, d_v]` and the weights `[B, T, S]` of
# $\mathrm{softmax}(QK^\top/\sqrt{d_k})\,V$, with weight 0 on the padded keys. You may use
# the library's `masked_softmax(scores, mask)` from `seq2code.models`.
#
# <details><summary>Hint</summary>
# Read the formula with the shapes. For Q K^T the keys' last two axes must swap, so that
# [B, T, d_k] meets [B, d_k, S] and gives [B, T, S] scores; d_k is the size of the queries'
# last axis. The masked softmax turns the scaled scores into weights over the keys, and a
# matrix product of the weights with the values gives the output. Return both.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch08 import check_scaled_dot_product
from seq2code.models import masked_softmax


def attention(q, k, v, mask):
    # your code here
    raise NotImplementedError


check_scaled_dot_product(attention)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import math

from seq2code.exercises.ch08 import check_scaled_dot_product
from seq2code.models import masked_softmax  # noqa: F811 - the cell must run on its own


def attention(q, k, v, mask):
    """``softmax(q k^T / sqrt(d_k)) v`` over the real keys: [B, T, d_v] and [B, T, S]."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # [B, T, S]
    weights = masked_softmax(scores, mask)  # [B, T, S], 0 at padded keys
    return weights @ v, weights  # [B, T, d_v]


check_scaled_dot_product(attention, strict=True)

# %% [markdown]
# ### Exercise 3: sinusoidal positions
#
# Write `positions(length, d)`: the `[length, d]` encodings
# $PE_{p, 2i} = \sin(p / 10000^{2i/d})$ and $PE_{p, 2i+1} = \cos(p / 10000^{2i/d})$ of the
# positions $p = 0, \dots, \text{length} - 1$ ($d$ even).
#
# <details><summary>Hint</summary>
# Make the positions a column [length, 1] and the even indices 0, 2, 4, ... (the 2i) a row
# [d/2], both floats: broadcasting then gives all [length, d/2] angles in one expression.
# The sines go to the even columns and the cosines to the odd ones; a slice with a step of 2
# selects either set of columns.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch08 import check_sinusoidal_positions


def positions(length, d):
    # your code here
    raise NotImplementedError


check_sinusoidal_positions(positions)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
import torch

from seq2code.exercises.ch08 import check_sinusoidal_positions


def positions(length, d):
    """``[length, d]``: sin in the even columns, cos in the odd ones."""
    p = torch.arange(length, dtype=torch.float32)[:, None]  # [length, 1]
    two_i = torch.arange(0, d, 2, dtype=torch.float32)  # [d/2]: 0, 2, 4, ...
    angles = p / 10000 ** (two_i / d)  # [length, d/2]
    pe = torch.zeros(length, d)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe


check_sinusoidal_positions(positions, strict=True)

# %% [markdown]
# ## Summary
#
# - Scaled dot-product attention scores all queries against all keys in one matrix
#   product, $\mathrm{softmax}(QK^\top/\sqrt{d_k})V$; the $\sqrt{d_k}$ keeps the softmax
#   from saturating as heads grow.
# - Multi-head attention runs $h$ such attentions on slices of one projection and mixes
#   them with $W^O$: the same parameters as one attention of size $d$, several views of
#   the sentence. Ours equals `nn.MultiheadAttention` with shared weights.
# - Attention ignores order; sinusoidal positional encodings give it back.
# - The causal mask lets a Transformer decoder train on every position at once without
#   seeing the future; a cache of each layer's inputs decodes one token at a time with the
#   same result. That parallel training is why it trains with teacher forcing 1.0.
# - A pre-norm decoder layer is nothing but these pieces: causal self-attention,
#   cross-attention over the encoder's outputs and a feed-forward network, each read through
#   a LayerNorm and added to the residual stream. Written by hand from this chapter's
#   attention, it gives the library's `DecoderLayer` outputs on the trained model.
# - Sections 8.10 and 8.11 put both models beside chapter 4's and every model of the course
#   beside the published Django results, each difference with its paired-bootstrap interval,
#   the `full` profile's measured figures with their date and commit, and the commands that
#   reproduce each row.
