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
# - how little the library changes to go from the RNN to the LSTM encoder-decoder, and the
#   LSTM encoder-decoder's forward pass written by hand from chapter 2's: only the state
#   changes;
# - how far back along the input the gradient of the loss reaches in the RNN and in the
#   LSTM, and what that does to exact match on long descriptions;
# - whether a difference between two models is more than noise: the paired bootstrap;
# - what teacher forcing trades off, and what *exposure bias* looks like in training curves.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from torch import nn

from seq2code.analysis import encoder_state_gradients, token_accuracy
from seq2code.batching import make_batches
from seq2code.experiment import evaluate_model, prepare_data, train_model, translate
from seq2code.models import build_model
from seq2code.models.base import Seq2Seq, count_parameters
from seq2code.models.lstm import LSTMDecoder, LSTMEncoder
from seq2code.models.rnn import RNNEncoder
from seq2code.plots import column_figure, use_book_style, whole_epochs
from seq2code.profiles import get_profile
from seq2code.show import show_source
from seq2code.significance import paired_bootstrap
from seq2code.tables import Table
from seq2code.tokens import tokenize_nl

torch.manual_seed(0)
use_book_style()  # figures drawn for the book's column, their labels at the text's size
profile = get_profile()
print(profile.describe())

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
# and then updates its two states, the cell $m_t$ and the hidden state $h_t$ ($\odot$ is the
# element-wise product):
#
# $$
# m_t = f_t \odot m_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(m_t).
# $$
#
# Most texts, and PyTorch's documentation and code, call the cell $c_t$ (`c_n`, `c_0`). This
# course writes it $m_t$, for *memory*, because from chapter 4 on $c_t$ is the attention
# context; where code follows PyTorch's names, its `c` is our $m$.
#
# Each gate decides one thing, separately for each of the $H$ units of the state:
#
# - the **forget gate** $f_t$ decides how much of the old cell $m_{t-1}$ to *keep*: near 1
#   the unit remembers, near 0 it is wiped;
# - the **input gate** $i_t$ decides how much of the new candidate $g_t$ to *write* into the
#   cell: near 0 the current token leaves the unit alone;
# - the **output gate** $o_t$ decides how much of the cell to *show* in $h_t$, the state that
#   the next step, the decoder and the output layer read. A unit can hold a fact in its cell
#   for many steps without exposing it.
#
# The cell update is a *sum*, not a matrix product through a squashing function. Along the
# cell, $\partial m_t / \partial m_{t-1} = \operatorname{diag}(f_t)$ (plus terms through the
# gates): where the forget gate stays near 1, the gradient flows back unchanged over many
# steps, where the RNN's $\partial h_t / \partial h_{t-1} = \operatorname{diag}(1 - h_t^2)\,
# W_{hh}$ shrinks it a little at every step.
#
# ## 3.2 An LSTM cell from scratch
#
# Here are the equations as code, one gate per line. PyTorch stores the four input matrices
# stacked in one `weight_ih` of shape $[4H, E]$ in the order $i, f, g, o$ (and likewise
# `weight_hh`, `bias_ih`, `bias_hh`); the function cuts them apart so that each gate reads
# like its equation.

# %%
def lstm_cell(x, h_prev, m_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """One LSTM step with explicit gates.

    Args:
        x: ``[B, E]`` the input x_t.
        h_prev: ``[B, H]`` the hidden state h_{t-1}.
        m_prev: ``[B, H]`` the cell m_{t-1}.
        weight_ih: ``[4H, E]`` W_ii, W_if, W_ig, W_io stacked (PyTorch's order).
        weight_hh: ``[4H, H]`` W_hi, W_hf, W_hg, W_ho stacked.
        bias_ih, bias_hh: ``[4H]`` the biases, stacked the same way.

    Returns:
        ``(h_t, m_t)``, each ``[B, H]``.
    """
    W_ii, W_if, W_ig, W_io = weight_ih.chunk(4)  # each [H, E]
    W_hi, W_hf, W_hg, W_ho = weight_hh.chunk(4)  # each [H, H]
    b_ii, b_if, b_ig, b_io = bias_ih.chunk(4)  # each [H]
    b_hi, b_hf, b_hg, b_ho = bias_hh.chunk(4)  # each [H]
    f = torch.sigmoid(x @ W_if.T + b_if + h_prev @ W_hf.T + b_hf)  # [B, H] forget f_t
    i = torch.sigmoid(x @ W_ii.T + b_ii + h_prev @ W_hi.T + b_hi)  # [B, H] input i_t
    o = torch.sigmoid(x @ W_io.T + b_io + h_prev @ W_ho.T + b_ho)  # [B, H] output o_t
    g = torch.tanh(x @ W_ig.T + b_ig + h_prev @ W_hg.T + b_hg)  # [B, H] candidate g_t
    m = f * m_prev + i * g  # [B, H] m_t = f_t * m_{t-1} + i_t * g_t
    h = o * torch.tanh(m)  # [B, H] h_t = o_t * tanh(m_t)
    return h, m


def lstm_from_scratch(xs, lstm: nn.LSTM):
    """Run :func:`lstm_cell` over ``xs`` ``[B, S, E]`` with the weights of ``lstm`` (one
    layer, ``batch_first``), from zero states. Returns every hidden state h_1..h_S and
    every cell m_1..m_S, each ``[B, S, H]``."""
    batch = xs.size(0)
    h = xs.new_zeros(batch, lstm.hidden_size)  # [B, H] h_0
    m = xs.new_zeros(batch, lstm.hidden_size)  # [B, H] m_0
    hs, ms = [], []
    for t in range(xs.size(1)):
        h, m = lstm_cell(xs[:, t], h, m, lstm.weight_ih_l0, lstm.weight_hh_l0,
                         lstm.bias_ih_l0, lstm.bias_hh_l0)  # [B, H] each: h_t, m_t
        hs.append(h)
        ms.append(m)
    return torch.stack(hs, dim=1), torch.stack(ms, dim=1)  # [B, S, H] each


# %% [markdown]
# The check: an `nn.LSTM` with random weights, and our loop run with *the same* weights on
# the same random inputs. Outputs, final hidden state and final cell must agree to rounding.

# %%
reference_lstm = nn.LSTM(input_size=8, hidden_size=16, batch_first=True)
xs = torch.randn(3, 7, 8)  # [B=3, S=7, E=8]
with torch.no_grad():
    ours, cells = lstm_from_scratch(xs, reference_lstm)  # [3, 7, 16] each: h_s, m_s
    theirs, (h_theirs, c_theirs) = reference_lstm(xs)  # [3, 7, 16]; [1, 3, 16] each
torch.testing.assert_close(ours, theirs)
torch.testing.assert_close(ours[:, -1], h_theirs[0])  # h_S
torch.testing.assert_close(cells[:, -1], c_theirs[0])  # m_S (PyTorch's c_n)
print("largest difference from nn.LSTM:", (ours - theirs).abs().max().item())

# %% tags=["outcome", "remove-cell"]
torch.testing.assert_close(ours, theirs)
torch.testing.assert_close(cells[:, -1], c_theirs[0])
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
# pair $(h_S, m_S)$ (PyTorch's `(h_n, c_n)`), and the decoder starts from the pair, so the
# cell's memory crosses from the encoder to the decoder as well (chapter 2's listing of the
# encoder's `forward`, folded in the book):

# %% tags=["hide-output"]
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
# ## 3.4 The forward pass by hand: what the LSTM changes
#
# Chapter 2 wrote the RNN encoder-decoder's forward pass by hand: the encoder, one decoder
# step, and the loop that flips a teacher-forcing coin before each step. For the LSTM one
# thing changes, the state, which is now a pair. The encoder hands over its last hidden
# state *and* its last cell, and the decoder starts from both,
# $(s_0, m_0) = (h_S, m_S)$; each decoder step updates both with the gates of section 3.1,
#
# $$
# (s_t, m_t) = \operatorname{LSTM}\big(e(y_{t-1}), (s_{t-1}, m_{t-1})\big),
# $$
#
# and the output layer still reads $s_t$ alone, $W_o s_t + b_o$. The coins, the argmax fed
# back and the masked loss are chapter 2's. We write the three pieces again with
# `lstm_cell` from section 3.2 and the weights of a freshly built library model (the checks
# hold for any weights), on a real batch: of the batches of the first 2,000 training
# pairs, the one with the longest code lines, so the most steps.

# %%
data = prepare_data(profile)
torch.manual_seed(0)
model = build_model("lstm", len(data.src_vocab), len(data.tgt_vocab),
                    profile.emb_dim, profile.hidden_dim)  # untrained, on the CPU
batches = make_batches(data.pairs["train"][:2000], profile.batch_size, shuffle=True,
                       seed=0)
batch = max(batches, key=lambda b: b.tgt_in.size(1))  # the longest lines
print(f"src {tuple(batch.src.shape)} [B, S], tgt_in {tuple(batch.tgt_in.shape)} [B, T]")

# %% [markdown]
# The **encoder** runs our loop over the padded batch and takes each row's pair at its own
# last token, as chapter 2 did (the states before it never saw padding). The **decoder
# step** is `lstm_cell` on the code embedding, then the output layer:

# %%
def encode_by_hand(model: Seq2Seq, src: torch.Tensor, src_lens: torch.Tensor):
    """The encoder's last pair: ``src`` [B, S] ids x, ``src_lens`` [B] -> (h_S, m_S)."""
    x = model.encoder.embedding(src)  # [B, S, E]  e(x_s) (the library's dropout is 0)
    hs, ms = lstm_from_scratch(x, model.encoder.rnn)  # [B, S, H] each: h_s, m_s
    rows, last = torch.arange(src.size(0)), src_lens - 1  # [B] each: row, its last token
    return hs[rows, last], ms[rows, last]  # [B, H] each: (h_S, m_S)


def decoder_step_by_hand(model: Seq2Seq, prev: torch.Tensor, state):
    """``prev`` [B] ids y_{t-1}, ``state`` (s_{t-1}, m_{t-1}), [B, H] each
    -> logits [B, V] and (s_t, m_t)."""
    lstm, out = model.decoder.rnn, model.decoder.out
    e = model.decoder.embedding(prev)  # [B, E]  e(y_{t-1})
    s, m = lstm_cell(e, *state, lstm.weight_ih_l0, lstm.weight_hh_l0,
                     lstm.bias_ih_l0, lstm.bias_hh_l0)  # [B, H] each: s_t, m_t
    return s @ out.weight.T + out.bias, (s, m)  # [B, V]  W_o s_t + b_o


with torch.no_grad():
    h_S, m_S = encode_by_hand(model, batch.src, batch.src_lens)  # [B, H] each
    enc = model.encoder(batch.src, batch.src_lens)  # (h_S, m_S), PyTorch's (h, c)
    # enc.state: [1, B, H] each
    logits_1, _ = decoder_step_by_hand(model, batch.tgt_in[:, 0], (h_S, m_S))  # [B, V]
    step = model.decoder(batch.tgt_in[:, 0], enc.state, enc)  # logits [B, V]
torch.testing.assert_close((h_S, m_S), (enc.state[0][0], enc.state[1][0]))
torch.testing.assert_close(logits_1, step.logits)
print("encoder pair (h_S, m_S) and first decoder step equal the library's")

# %% [markdown]
# The **loop** is chapter 2's line for line; only the state it carries is a pair:

# %%
def forward_by_hand(model: Seq2Seq, src: torch.Tensor, src_lens: torch.Tensor,
                    tgt_in: torch.Tensor, teacher_forcing: float,
                    generator: torch.Generator | None) -> torch.Tensor:
    """Scores of every target position, one teacher-forcing coin per step.

    ``src`` [B, S], ``src_lens`` [B], ``tgt_in`` [B, T] = <sos> y_1 .. y_{T-1};
    ``generator`` draws the coins. Returns logits [B, T, V].
    """
    state = encode_by_hand(model, src, src_lens)  # (s_0, m_0) = (h_S, m_S)
    T = tgt_in.size(1)
    coins = torch.rand(T, generator=generator) < teacher_forcing  # [T] bool: gold at t?
    logits = []
    for t in range(T):
        if t == 0 or coins[t]:
            prev = tgt_in[:, t]  # [B]  the gold y_{t-1}
        else:
            prev = logits[-1].argmax(dim=-1)  # [B]  the model's own y_{t-1}
        scores, state = decoder_step_by_hand(model, prev, state)  # [B, V], (s_t, m_t)
        logits.append(scores)
    return torch.stack(logits, dim=1)  # [B, T, V]


T = batch.tgt_in.size(1)
gaps, own_steps = {}, {}
with torch.no_grad():
    for teacher_forcing in (1.0, 0.5):
        for seed in range(3):
            ours = forward_by_hand(model, batch.src, batch.src_lens, batch.tgt_in,
                                   teacher_forcing, torch.Generator().manual_seed(seed))
            theirs = model(batch.src, batch.src_lens, batch.tgt_in,
                           teacher_forcing=teacher_forcing,
                           generator=torch.Generator().manual_seed(seed)).logits
            torch.testing.assert_close(ours, theirs)
            gaps[teacher_forcing, seed] = (ours - theirs).abs().max().item()
            coins = torch.rand(T, generator=torch.Generator().manual_seed(seed))
            own_steps[teacher_forcing, seed] = int((coins[1:] >= teacher_forcing).sum())
print(f"forward pass: logits {tuple(ours.shape)} [B, T, V] equal the library's for "
      f"teacher forcing 1.0 and 0.5, three seeds each (largest difference "
      f"{max(gaps.values()):.1e}); at 0.5 the three seeds fed back the model's own token "
      f"at {', '.join(str(own_steps[0.5, seed]) for seed in range(3))} of the {T - 1} "
      "steps after <sos>")

# %% tags=["outcome", "remove-cell"]
assert max(gaps.values()) < 1e-4, gaps
# teacher forcing 1.0 reads only gold tokens; at 0.5 both branches of the loop ran
assert all(own_steps[1.0, seed] == 0 for seed in range(3)), own_steps
assert all(0 < own_steps[0.5, seed] < T - 1 for seed in range(3)), own_steps

# %% [markdown]
# The loss and the training step are chapter 2's without a change: they only read the
# logits. From here on the library trains.
#
# ## 3.5 Training on the same data and budget as chapter 2
#
# `train_model` trains with the course's strategy (Adam, teacher forcing 0.5, gradient
# clipping; see chapter 2) and keeps the epoch with the best dev exact match. The RNN is
# chapter 2's model, with the same arguments, so it comes from the model cache when
# chapter 2 ran first in this profile.

# %%
from seq2code.plan import CHAPTERS, plan_training

print(plan_training(CHAPTERS[3], data))  # what this chapter trains, and for how long

# %%
rnn = train_model("rnn", data=data)
lstm = train_model("lstm", data=data)
print(f"RNN from the cache: {rnn.from_cache}; LSTM from the cache: {lstm.from_cache}")

# %%
reports = {"RNN": evaluate_model(rnn, data.dev), "LSTM": evaluate_model(lstm, data.dev)}
Table(["model", "dev exact match", "canonical exact match", "BLEU", "parses"],
      [[name, r.metrics["exact_match"], r.metrics["exact_match_canonical"],
        r.metrics["bleu"], r.metrics["parse_rate"]] for name, r in reports.items()],
      formats=[None, ".1%", ".1%", ".1f", ".1%"])

# %% tags=["hide-input"]
fig, axes = column_figure(2, row_height=2.8, sharex=True)
for name, trained in (("RNN", rnn), ("LSTM", lstm)):
    epochs = np.arange(1, len(trained.history.dev_loss) + 1)
    axes[0].plot(epochs, trained.history.dev_loss, marker="o", label=name)
    axes[1].plot(epochs, trained.history.dev_exact_match, marker="o", label=name)
axes[0].set(ylabel="dev loss (per token)", title="Dev loss (teacher forcing 1.0)")
axes[1].set(xlabel="epoch", ylabel="dev exact match", title="Dev exact match (greedy)")
whole_epochs(*axes)
for ax in axes:
    ax.legend()
plt.show()

# %% [markdown]
# The table is the chapter's main result, but a dev set is a sample of lines: on another
# sample of the same size both exact matches would come out a little different. Is the
# difference more than that noise? The two models decoded the *same* lines, so their
# results are paired: line $i$ is right or wrong for the LSTM ($a_i \in \{0, 1\}$) and for
# the RNN ($b_i$), and the difference of their exact match is
# $\frac{1}{n} \sum_i (a_i - b_i)$. The **paired bootstrap**
# (`seq2code.significance.paired_bootstrap`; Koehn, 2004) draws $n$ lines with replacement
# 2,000 times and recomputes that difference each time; the middle 95% of those differences
# is the interval. The course calls one model better than another only when the interval
# excludes 0. (Both models kept the epoch that did best on these same dev lines, which
# flatters each a little; chapter 5 compares them on the test set too.)

# %% tags=["remove-input"]
def exact_per_line(report):
    """1.0 where the model wrote the line token for token, else 0.0: one number a line."""
    return [float(p["exact"]) for p in report.predictions]


def sentence(text):
    """``text`` with a capital first letter (a verdict that opens a sentence)."""
    return text[:1].upper() + text[1:]


lstm_vs_rnn = paired_bootstrap(exact_per_line(reports["LSTM"]),
                               exact_per_line(reports["RNN"]))  # LSTM - RNN
best_dev_loss = {"RNN": min(rnn.history.dev_loss), "LSTM": min(lstm.history.dev_loss)}
em_text = (
    f"Profile `{profile.name}` ({len(data.train):,} training pairs, {profile.epochs} "
    f"epochs, hidden size {profile.hidden_dim}): the LSTM writes {lstm_vs_rnn.a:.1%} of "
    f"the {lstm_vs_rnn.n:,} dev lines exactly, the RNN {lstm_vs_rnn.b:.1%}; the numbers "
    "that follow are the LSTM's minus the RNN's. "
    + sentence(lstm_vs_rnn.verdict("the LSTM", "the RNN"))
    + f" Their best dev losses (teacher-forced cross-entropy per token): LSTM "
    f"{best_dev_loss['LSTM']:.3f}, RNN {best_dev_loss['RNN']:.3f}.")
display(Markdown(em_text))

# %% tags=["outcome", "remove-cell"]
rnn_em = reports["RNN"].metrics["exact_match"]
lstm_em = reports["LSTM"].metrics["exact_match"]
# Both models trained (the loss fell) and decode every dev line.
for trained in (rnn, lstm):
    assert trained.history.train_loss[-1] < trained.history.train_loss[0]
assert all(isinstance(p["prediction"], str) for p in reports["LSTM"].predictions)
# The bootstrap's means are the table's exact matches, on the same dev lines.
assert lstm_vs_rnn.n == len(data.dev) == reports["RNN"].metrics["n"], lstm_vs_rnn
assert abs(lstm_vs_rnn.a - lstm_em) < 1e-9 and abs(lstm_vs_rnn.b - rnn_em) < 1e-9
assert lstm_vs_rnn.low <= lstm_vs_rnn.high
# The text calls a model better only when the interval excludes 0, and names the right
# one.
assert ("The LSTM is better than the RNN" in em_text) == (lstm_vs_rnn.low > 0), em_text
assert ("The RNN is better than the LSTM" in em_text) == (lstm_vs_rnn.high < 0), em_text
assert ("within the noise" in em_text) == (not lstm_vs_rnn.clear), em_text
assert f"{lstm_em:.1%}" in em_text and f"{rnn_em:.1%}" in em_text

# %% [markdown]
# A few dev descriptions, translated by both models (`translate` tokenizes the English,
# decodes greedily and writes the tokens back as source):

# %%
examples = (reports["LSTM"].samples(4, exact=True)
            + reports["LSTM"].samples(2, exact=False))
texts = [ex["nl"] for ex in examples]
Table(["English", "reference", "RNN", "LSTM"],
      [[ex["nl"], ex["reference"], r, ll] for ex, r, ll in
       zip(examples, translate(rnn, texts), translate(lstm, texts), strict=True)],
      formats=[None, "code", "code", "code"])

# %% [markdown]
# ## 3.6 How far back the gradient reaches
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

# %% tags=["hide-input"]
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

# %% tags=["hide-input"]
fig, ax = column_figure(row_height=3.4)
positions = np.arange(1, S + 1)
for name, g in grads.items():
    ax.plot(positions, (g / g[-1]).numpy(), marker="o", label=name)
ax.set_yscale("log")
ax.set(xlabel="source position s (1 = first English token)",
       ylabel=r"$\|\partial L/\partial h_s\|$ / value at $s=S$",
       title=f"Gradient along the input ({S}-token descriptions, dev)")
whole_epochs(ax)  # positions are whole numbers too
ax.legend()
plt.show()

# %% tags=["outcome", "remove-cell"]
assert torch.isfinite(grads["RNN"]).all() and torch.isfinite(grads["LSTM"]).all()
assert len(grads["LSTM"]) == len(grads["RNN"]) == S
# "Further back": a larger share of the last word's gradient reaches the first word.
# This holds already in the ci profile (by a factor of about 50 when written), so it is
# asserted in every profile.
assert reach["LSTM"] > reach["RNN"], reach

# %% [markdown]
# Read the plot from the right: at the last word both curves start at 1. Moving left, each
# step back multiplies the RNN's gradient by its Jacobian
# $\operatorname{diag}(1 - h^2) W_{hh}$; the LSTM's can pass through the cell, scaled only
# by forget gates that can stay near 1.
# The reach printed above is the value at the left end of each curve: the LSTM's is the
# larger one, so its first words get a larger share of the training signal.
#
# ## 3.7 Exact match by input length
#
# The hypothesis: if the RNN's encoder forgets the start of a long description, its exact
# match should fall with the length of the English faster than the LSTM's, so the LSTM's
# lead should be largest on long descriptions. `evaluate_model` breaks every metric down by
# input length:

# %% tags=["hide-input"]
buckets = {name: r.metrics["by_length"] for name, r in reports.items()}
Table(["English tokens", "examples", "RNN exact match", "LSTM exact match"],
      [[b_r["bucket"], b_r["n"], b_r["exact_match"], b_l["exact_match"]]
       for b_r, b_l in zip(buckets["RNN"], buckets["LSTM"], strict=True)],
      formats=[None, "d", ".1%", ".1%"])

# %% tags=["hide-input"]
labels = [b["bucket"] for b in buckets["RNN"]]
x = np.arange(len(labels))
fig, ax = column_figure(row_height=3.2)
for k, name in enumerate(buckets):
    ax.bar(x + (k - 0.5) * 0.4, [b["exact_match"] for b in buckets[name]], width=0.4,
           label=name)
ax.set_xticks(x, labels)
ax.set(xlabel="length of the English description (tokens)", ylabel="dev exact match",
       title="Exact match by input length")
ax.legend()
plt.show()

# %% [markdown]
# Each bucket holds only part of the dev lines, so its share moves more with a handful of
# lines than the overall exact match does. To test the hypothesis with enough lines on each
# side, we cut the dev set in two at 10 English tokens (the first two buckets against the
# last two) and bootstrap the LSTM's lead over the RNN on each half:

# %% tags=["remove-input"]
n_words = [len(tokenize_nl(p["nl"])) for p in reports["LSTM"].predictions]
halves = {"short": [i for i, n in enumerate(n_words) if n <= 10],  # 1-10 English tokens
          "long": [i for i, n in enumerate(n_words) if n > 10]}  # 11 and more
per_line = {name: exact_per_line(r) for name, r in reports.items()}
lead = {half: paired_bootstrap([per_line["LSTM"][i] for i in rows],
                               [per_line["RNN"][i] for i in rows])  # LSTM - RNN
        for half, rows in halves.items()}
short, long = lead["short"], lead["long"]
if long.low > 0 and short.low <= 0:
    conclusion = ("The LSTM's lead stands clear of the noise on the long descriptions "
                  "only, as the hypothesis predicts (two intervals do not measure how "
                  "much faster the RNN falls, only where the lead is clear).")
elif long.low > 0:
    conclusion = ("The LSTM leads clearly on short and long descriptions alike: its "
                  "advantage is not confined to long inputs, and these intervals neither "
                  "confirm nor refute that it grows with length.")
elif long.high < 0:
    conclusion = "On the long descriptions the numbers go against the hypothesis."
else:
    conclusion = ("With the long descriptions within the noise, this budget does not "
                  "confirm the hypothesis.")
first_is_best = {name: max(b["exact_match"] for b in rows if b["n"] > 0)
                 == rows[0]["exact_match"] for name, rows in buckets.items()}
length_text = (
    f"On the {short.n:,} short descriptions (1 to 10 tokens) the LSTM writes "
    f"{short.a:.1%} exactly and the RNN {short.b:.1%}. "
    + sentence(short.verdict("the LSTM", "the RNN"))
    + f" On the {long.n:,} long ones (11 tokens and more): {long.a:.1%} against "
    f"{long.b:.1%}. " + sentence(long.verdict("the LSTM", "the RNN")) + " " + conclusion
    + " "
    + ("For both models the shortest bucket (descriptions of lines such as `return x` or "
       "`else :`) has the highest exact match." if all(first_is_best.values()) else
       "The shortest bucket has the highest exact match for "
       + (" and ".join(n for n, best in first_is_best.items() if best) or "neither model")
       + "."))
display(Markdown(length_text))

# %% tags=["outcome", "remove-cell"]
# The two halves are the table's buckets: 1-5 and 6-10 against 11-20 and 21+.
assert short.n + long.n == len(data.dev) and short.n > 0 and long.n > 0
assert short.n == sum(b["n"] for b in buckets["LSTM"][:2]), (short.n, buckets["LSTM"])
right = {name: sum(b["exact_match"] * b["n"] for b in rows[:2])
         for name, rows in buckets.items()}  # lines right among the short ones
assert abs(short.a * short.n - right["LSTM"]) < 1e-6, (short, right)
assert abs(short.b * short.n - right["RNN"]) < 1e-6, (short, right)
# Each verdict follows its interval; the conclusion follows the long half's interval.
for half in (short, long):
    verdict = sentence(half.verdict("the LSTM", "the RNN"))
    assert verdict in length_text and ("is better than" in verdict) == half.clear
assert ("as the hypothesis predicts" in length_text) == (long.low > 0 >= short.low)
assert ("alike" in length_text) == (long.low > 0 and short.low > 0)
assert ("go against" in length_text) == (long.high < 0)
assert ("does not confirm" in length_text) == (not long.clear)
for name, rows in buckets.items():
    shares = [b["exact_match"] for b in rows if b["n"] > 0]
    assert first_is_best[name] == (shares[0] == max(shares)), (name, shares)

# %% [markdown]
# ## 3.8 Teacher forcing: 0, 0.5 and 1.0
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

# %% tags=["hide-input"]
# One panel per row, sharing the epoch axis: the column is too narrow for three side by side.
fig, axes = column_figure(3, row_height=2.5, sharex=True)
for ratio, m in tf_models.items():
    epochs = np.arange(1, len(m.history.train_loss) + 1)
    label = f"teacher forcing {ratio}"
    axes[0].plot(epochs, m.history.train_loss, marker="o", label=label)
    axes[1].plot(epochs, m.history.dev_loss, marker="o", label=label)
    axes[2].plot(epochs, m.history.dev_exact_match, marker="o", label=label)
axes[0].set(ylabel="train loss", title="Train loss (with its own feeding)")
axes[1].set(ylabel="dev loss", title="Dev loss (fed the reference)")
axes[2].set(xlabel="epoch", ylabel="dev exact match", title="Dev exact match (own guesses)")
whole_epochs(*axes)
axes[0].legend()  # one legend: the three panels share their lines
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

# %% tags=["hide-output"]
show_source(token_accuracy)

# %%
accuracy = {ratio: {feed: token_accuracy(m.model, data.pairs["dev"], feed)
                    for feed in (1.0, 0.0)} for ratio, m in tf_models.items()}
Table(["trained with teacher forcing", "fed the reference", "fed its own guesses",
       "kept (own / reference)"],
      [[ratio, acc[1.0], acc[0.0], acc[0.0] / acc[1.0]]
       for ratio, acc in accuracy.items()],
      formats=[".1f", ".1%", ".1%", ".0%"])

# %% tags=["remove-input"]
RATIOS = (0.0, 0.5, 1.0)
kept = {ratio: acc[0.0] / acc[1.0] for ratio, acc in accuracy.items()}
exposure_bias = kept[0.0] > kept[0.5] > kept[1.0]  # the more reference, the less kept
weakest_on_reference = min(RATIOS, key=lambda ratio: accuracy[ratio][1.0])
tf_em = {ratio: r.metrics["exact_match"] for ratio, r in tf_reports.items()}
tf_lines = {ratio: exact_per_line(r) for ratio, r in tf_reports.items()}
tf_pairs = [(1.0, 0.5), (0.5, 0.0), (1.0, 0.0)]  # (higher, lower) teacher forcing
tf_diffs = {(a, b): paired_bootstrap(tf_lines[a], tf_lines[b]) for a, b in tf_pairs}


def beats(a, b):
    """Teacher forcing ``a`` has the higher exact match, with an interval clear of 0."""
    return tf_diffs[a, b].low > 0 if (a, b) in tf_diffs else tf_diffs[b, a].high < 0


first = [r for r in RATIOS if all(beats(r, other) for other in RATIOS if other != r)]
why_first = {
    1.0: "with a short budget, the model that always sees the reference learns fastest, "
         "and here that head start outweighs the exposure bias on whole lines.",
    0.5: "reading its own guesses half of the time has taught it to recover from a "
         "mistake, and that shows on whole lines.",
    0.0: "having read nothing but its own guesses, it recovers from its mistakes best, "
         "and that outweighs its slow start.",
}
tf_text = (
    f"Fed the reference, the model trained with teacher forcing 1.0 predicts "
    f"{accuracy[1.0][1.0]:.1%} of the dev tokens; fed its own guesses, "
    f"{accuracy[1.0][0.0]:.1%}: it keeps {kept[1.0]:.0%} of its accuracy, against "
    f"{kept[0.5]:.0%} for the model trained at 0.5 and {kept[0.0]:.0%} for the one that "
    f"always read its own guesses. "
    + ("The more often a model was fed the reference in training, the larger the share "
       "it loses when it has to read its own mistakes: that loss is exposure bias. "
       if exposure_bias else
       "These shares are not in the order that exposure bias predicts (the more "
       "reference in training, the less kept), so at this budget token accuracy does not "
       "show it cleanly. ")
    + f"Fed the reference, the model trained at {weakest_on_reference} is the weakest of "
    f"the three ({', '.join(f'{r}: {accuracy[r][1.0]:.1%}' for r in RATIOS)})"
    + (": the mark of its hard start, when its own guesses were still nonsense. "
       if weakest_on_reference == 0.0 else ". ")
    + f"On dev exact match ({', '.join(f'{r}: {tf_em[r]:.1%}' for r in RATIOS)}), pair "
    "by pair on the same lines, each difference the higher setting's minus the lower "
    "one's: "
    + " ".join(sentence(d.verdict(f"teacher forcing {a}", f"teacher forcing {b}"))
               for (a, b), d in tf_diffs.items())
    + (f" Teacher forcing {first[0]} comes first, clear of both others; a likely reason: "
       + why_first[first[0]] if first else
       " No setting stands clear of both others at this budget."))
display(Markdown(tf_text))

# %% tags=["outcome", "remove-cell"]
# The train loss is measured with each model's own feeding: the more often the reference
# is fed, the lower it is, in every profile (the text above the token accuracies).
train_losses = [tf_models[ratio].history.train_loss[-1] for ratio in RATIOS]
assert train_losses[0] > train_losses[1] > train_losses[2], train_losses
assert all(0.0 <= a <= 1.0 for acc in accuracy.values() for a in acc.values())
# The sentences follow the numbers: exposure bias named only when the kept shares are
# ordered, the hard start only when the model trained at 0 is the weakest on reference.
assert ("that loss is exposure bias" in tf_text) == exposure_bias, kept
assert all(accuracy[weakest_on_reference][1.0] <= accuracy[r][1.0] for r in RATIOS)
assert ("the mark of its hard start" in tf_text) == (weakest_on_reference == 0.0)
# A setting is called better only when its interval excludes 0, and first only when it is
# better than both others.
for (a, b), d in tf_diffs.items():
    assert d.n == len(data.dev) and abs(d.difference - (d.a - d.b)) < 1e-9, d
    verdict = sentence(d.verdict(f"teacher forcing {a}", f"teacher forcing {b}"))
    assert verdict in tf_text and ("is better than" in verdict) == d.clear, verdict
assert ("comes first" in tf_text) == bool(first) and len(first) <= 1, first
for winner in first:
    assert f"Teacher forcing {winner} comes first" in tf_text
    assert all(beats(winner, other) and not beats(other, winner)
               for other in RATIOS if other != winner)

# %% [markdown]
# Feeding its own guesses part of the time (scheduled sampling, Bengio et al., 2015, of
# which our fixed 0.5 is the simplest form) exposes the model to its mistakes; feeding them
# all the time (0) makes early training hard, since the guesses are nonsense at first (its
# train loss is the highest of the three). The course keeps 0.5; chapter 8's
# Transformer, which cannot be trained step by step cheaply, trains at 1.0 and lives with
# the bias.

# %% [markdown]
# ## 3.9 Exercises
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
# W_ih (H x E), W_hh (H x H), b_ih and b_hh (H each).
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
    """Parameters of the LSTM encoder-decoder: embeddings, two LSTM layers, output
    layer."""
    embeddings = V_src * E + V_tgt * E
    lstm_layer = 4 * (H * E + H * H + 2 * H)  # gates i, f, g, o: W_ih, W_hh, b_ih, b_hh
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
# `[B, E]`, `h_prev` and `c_prev` are `[B, H]`; return `(h_t, c_t)`. The names are
# PyTorch's, which the check's messages use too: `c_prev` is the cell $m_{t-1}$ and `c_t`
# is $m_t$. The check compares your step with an `nn.LSTMCell` that holds the same
# weights.
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
    ``W_ih`` [4H, E], ``W_hh`` [4H, H], ``b_ih``, ``b_hh`` [4H] stack the gates i, f, g,
    o. ``c`` is PyTorch's name for the cell m."""
    pre = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh  # [B, 4H]
    i, f, g, o = pre.chunk(4, dim=-1)  # each [B, H], PyTorch's order
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.tanh(g)
    c_t = f * c_prev + i * g  # [B, H] m_t = f_t * m_{t-1} + i_t * g_t
    h_t = o * torch.tanh(c_t)  # [B, H] h_t = o_t * tanh(m_t)
    return h_t, c_t


check_lstm_step(lstm_step, strict=True)

# %% [markdown]
# ### Exercise 3: carry the state across a padded batch
#
# Write `run_lstm(xs, lengths, cell)`: run `cell` (an `nn.LSTMCell`) over a padded batch of
# inputs `xs` `[B, S, E]`, whose row $b$ has `lengths[b]` real positions, starting from
# $h_0 = m_0 = 0$. Return `outputs` `[B, S, H]` (every $h_t$, and 0 at padded positions)
# and the final pair `(h, c)`, each `[B, H]`, in PyTorch's names: `c` is the cell $m$. A
# padded position must not change a row's state, so that each row's final `(h, c)` is the
# state after its own last token: the same result as the library's encoder, which packs
# the batch.
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
    """``xs`` [B, S, E], ``lengths`` [B] -> ``outputs`` [B, S, H] and the final
    ``(h, c)`` (PyTorch's names: ``c`` is the cell m)."""
    batch, steps, _ = xs.shape
    h = xs.new_zeros(batch, cell.hidden_size)  # [B, H] h_0
    c = xs.new_zeros(batch, cell.hidden_size)  # [B, H] m_0
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
# - An LSTM keeps a cell $m_t = f_t \odot m_{t-1} + i_t \odot g_t$ next to its hidden
#   state $h_t = o_t \odot \tanh(m_t)$: the forget gate decides what to keep, the input gate
#   what to write, the output gate what to show.
# - Our from-scratch cell, with PyTorch's stacked weights cut into gates, equals `nn.LSTM`;
#   the library's LSTM models are the RNN models with `nn.LSTM` in place of `nn.RNN`, and
#   chapter 2's forward pass, written by hand, carries over with the pair $(s_t, m_t)$ as
#   the decoder's state.
# - Trained on the same data and budget, the LSTM and the RNN are compared on dev exact
#   match (a difference counts only when its paired-bootstrap interval excludes 0), on how
#   much gradient reaches the first English token (the *reach*), and on exact match by
#   input length.
# - Teacher forcing trades an easy training signal for a mismatch with decoding (exposure
#   bias); the course's default 0.5 sits between the two extremes.
# - Both models still compress the whole description into one state: the pair
#   $(h_S, m_S)$ for the LSTM, $h_S$ for the RNN.
#   Chapter 4 lets the decoder look back at every $h_s$: attention.
