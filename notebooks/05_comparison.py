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
# # 5. The three models compared
#
# Chapters 2 to 4 built three encoder-decoders one after the other: the vanilla RNN, the
# LSTM and the LSTM with additive attention. Each chapter compared its model with the one
# before on a few measures. This chapter puts the three side by side on the same data and
# the same training budget, and measures everything the course promised to compare: size,
# speed, accuracy (overall and by input length), how the gradient reaches the input, and
# what each model lets you see. It also measures the library against an attention model
# written the way the common tutorials write it (the course's own re-implementation of that
# style, not the tutorials' code), and places our results beside the published ones on
# Django.
#
# **What you will learn**
#
# - how the parameter count of each model follows from its parts, at the course's reference
#   setting and at the Django vocabulary;
# - what a training epoch costs each model, and how the library's attention model's speed
#   compares with tutorial-style code that computes the same function, and why;
# - how the three models compare on dev and test: exact match (raw and canonical), BLEU,
#   parse rate, and exact match by the length of the English description, and when a
#   difference between two models is more than the noise of the test set;
# - how far back along the input the gradient reaches in each model;
# - where a plain attention model stands against the published Django results, and why
#   (the motivation for the copy mechanism of chapter 7).

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from seq2code import bench, reference
from seq2code.analysis import encoder_state_gradients
from seq2code.batching import make_batches, pad
from seq2code.decoding import greedy_decode
from seq2code.experiment import evaluate_model, prepare_data, train_model
from seq2code.models import build_model, count_parameters, expected_parameters
from seq2code.plots import column_figure, use_book_style, whole_epochs
from seq2code.profiles import get_profile
from seq2code.show import show_source
from seq2code.significance import paired_bootstrap
from seq2code.tables import Table

torch.manual_seed(0)
use_book_style()  # figures drawn for the book's column, their labels at the text's size
profile = get_profile()
print(profile.describe())

# %% [markdown]
# The three models, trained with the same configuration as in chapters 2 to 4 (the course's
# strategy: Adam, teacher forcing 0.5, clipping at 1.0, the profile's epochs). When those
# chapters ran first, all three come from the model cache.

# %%
from seq2code.plan import CHAPTERS, plan_training

data = prepare_data(profile)
print(plan_training(CHAPTERS[5], data))  # what this chapter trains, and for how long

# %%
KINDS = {"RNN": "rnn", "LSTM": "lstm", "LSTM + attention": "attention"}
trained = {name: train_model(kind, data=data) for name, kind in KINDS.items()}
print("from the cache:", {name: t.from_cache for name, t in trained.items()})

# %% [markdown]
# ## 5.1 Parameters
#
# With embedding size $E$, hidden size $H$ and vocabularies $V_s$ (English) and $V_t$
# (code), a tanh RNN layer from $n$ inputs has $Hn + H^2 + 2H$ parameters (input weights,
# recurrent weights and PyTorch's two biases) and an LSTM layer four times that, one block
# per gate. The three models add up as
#
# $$
# \begin{aligned}
# N_\text{RNN} &= (V_s + V_t)E + 2\,(HE + H^2 + 2H) + (H V_t + V_t),\\
# N_\text{LSTM} &= (V_s + V_t)E + 2\cdot 4\,(HE + H^2 + 2H) + (H V_t + V_t),\\
# N_\text{att} &= (V_s + V_t)E + 4\,(HE + H^2 + 2H) + 4\,(H(E + H) + H^2 + 2H)
#   + (2H^2 + H) + (2H V_t + V_t),
# \end{aligned}
# $$
#
# where the attention model's decoder LSTM reads $[e(y_{t-1}); c_t]$ (size $E + H$), the
# attention has $W_q$, $W_k$ ($H \times H$ each) and $v$, and the output layer reads
# $[s_t; c_t]$ (size $2H$). `expected_parameters` is this formula; `count_parameters`
# counts the tensors of a built model. At the course's reference setting ($E = 128$,
# $H = 256$, vocabularies of 60 tokens), and at this profile's Django vocabularies and model
# size (the size of the models trained here: the `cpu` profile halves $H$ to fit a laptop's
# budget):

# %% tags=["hide-output"]
show_source(expected_parameters)

# %% tags=["hide-input"]
E, H = profile.emb_dim, profile.hidden_dim  # the size of the models trained here
V_src, V_tgt = len(data.src_vocab), len(data.tgt_vocab)
settings = {"reference (60 + 60 tokens)": (60, 60, 128, 256),
            f"Django ({V_src:,} + {V_tgt:,} tokens), E={E}, H={H}": (V_src, V_tgt, E, H)}
def vocabulary_share(kind, v_src, v_tgt, emb=128, hidden=256):
    """The share of the parameters in the two embeddings and the output layer."""
    output = (2 if kind == "attention" else 1) * hidden * v_tgt + v_tgt  # W_o, b_o
    return ((v_src + v_tgt) * emb + output) / expected_parameters(kind, v_src, v_tgt, emb,
                                                                  hidden)


param_rows = []
for setting, (v_src, v_tgt, emb, hidden) in settings.items():
    for name, kind in KINDS.items():
        formula = expected_parameters(kind, v_src, v_tgt, emb, hidden)
        counted = count_parameters(build_model(kind, v_src, v_tgt, emb, hidden))
        param_rows.append([setting, name, formula, counted,
                           vocabulary_share(kind, v_src, v_tgt, emb, hidden)])
Table(["vocabularies", "model", "formula", "counted", "in embeddings and output layer"],
      param_rows, formats=[None, None, ",d", ",d", ".0%"])

# %% tags=["outcome", "remove-cell"]
assert all(row[2] == row[3] for row in param_rows)
at_reference = [row[3] for row in param_rows[:3]]
assert 220_000 < at_reference[0] < 235_000, at_reference  # about 227K
assert 800_000 < at_reference[1] < 840_000, at_reference  # about 820K
assert 1_150_000 < at_reference[2] < 1_250_000, at_reference  # about 1.2M
assert all(count_parameters(t.model) == row[3]
           for t, row in zip(trained.values(), param_rows[3:], strict=True))
assert all(row[4] < 0.15 for row in param_rows[:3])  # the text: recurrent layers dominate
assert all(row[4] > 0.4 for row in param_rows[3:])  # ... and then a large share

# %% [markdown]
# At 60 tokens the recurrent layers hold most of the parameters; at the Django
# vocabularies the embeddings and the output layer (which grows with $V_t$, twice as fast
# in the attention model since it reads $[s_t; c_t]$) take a large share.

# %% [markdown]
# ## 5.2 Time per epoch
#
# Training records, for every epoch, its wall-clock time (including the dev evaluation)
# and the training throughput in **target tokens per second**: the real target tokens
# the loss scored (`<eos>` included, padding excluded) divided by the seconds of the
# training steps. These figures come from each model's training `History`, so they were
# measured when the model was trained (on this machine or on the one that filled the
# cache, under whatever load it had then).

# %% tags=["hide-input"]
def time_to_best(history):
    """Minutes from the start of training to the end of the epoch with the best dev exact
    match (the epoch whose weights were kept)."""
    return sum(history.epoch_seconds[: history.best_epoch + 1]) / 60


time_rows = [[name, len(t.history.epoch_seconds), float(np.mean(t.history.epoch_seconds)),
              float(np.mean(t.history.train_tokens_per_second)), t.history.best_epoch + 1,
              max(t.history.dev_exact_match), time_to_best(t.history)]
             for name, t in trained.items()]
Table(["model", "epochs", "seconds per epoch", "target tokens/s", "best epoch",
       "best dev exact match", "minutes to best"], time_rows,
      formats=[None, "d", ".1f", ",.0f", "d", ".1%", ".2f"])

# %% tags=["outcome", "remove-cell"]
assert all(row[2] > 0 and row[3] > 0 for row in time_rows)
assert all(len(t.history.epoch_seconds) == t.history.dev_exact_match.__len__()
           for t in trained.values())

# %% [markdown]
# ## 5.3 The library against the usual implementation
#
# Most tutorials (bentrevett's *pytorch-seq2seq*, the PyTorch seq2seq tutorial) write the
# attention model with a Python loop over the target steps that calls the decoder once per
# step, and an attention that builds the pair $[s_{t-1}; h_s]$ for every source position at
# every step and multiplies it by $W$. Their batches are drawn at random, so each batch is
# as long as its longest sentence. `seq2code.reference` is the course's own
# re-implementation of that style (not the tutorials' code itself, which defines other
# models on other data): the same model as the library's, written time-major, with a
# per-step decoder loop and the literal concatenation $W [s_{t-1}; h_s]$ at every step. Its
# weights can be loaded from the library's model, and then it computes the same scores (its
# listing, folded in the book):

# %% tags=["hide-output"]
show_source(reference.TutorialAttention)

# %% [markdown]
# The library computes the same function with three changes of *how*, none of *what*: the
# source half $W_k h_s$ of the score is computed once per sentence (chapter 4), the
# embeddings and the output layer run over all teacher-forced steps at once instead of step
# by step, and the batches group descriptions of similar length, so less padding is
# computed. `seq2code.bench` trains both on the same seeded sample of Django pairs, with
# the same vocabularies, the same batch size, the same starting weights and the same
# teacher forcing (0.5, the course's). Each run makes a full pass over the sample per
# repeat, and the runs take turns pass by pass (the order rotated each repeat), so that the
# load of the machine touches all of them alike; a ratio is computed in every repeat and
# shown as its median with its spread (lowest to highest over the repeats). A second run of
# the library on the reference's random batches separates what the code gains from what
# the batching gains. Greedy decoding is timed with the same weights on both sides.
# (`python -m seq2code bench --json` runs the same from the terminal.)

# %% tags=["hide-input"]
bench_pairs = 128 if profile.name == "ci" else 512
results = bench.run_bench(data.pairs["train"], len(data.src_vocab), len(data.tgt_vocab),
                          n_pairs=bench_pairs, repeats=3, max_len=profile.max_tgt_len,
                          progress=False)
Table(["what", "model", "code", "batches", "median", "lowest", "highest", "unit"],
      [[r["what"], r["model"], r["implementation"], r["batching"], r["value"], r["min"],
        r["max"], r["unit"]] for r in results if r["what"] != "ratio"],
      formats=[None, None, None, None, ",.0f", ",.0f", ",.0f", None])

# %% tags=["remove-input"]
ratios = {r["of"]: r for r in results if r["what"] == "ratio"}
first = results[0]
# batching by length against random batches, both the library's code, in each repeat
batching_gain = bench.spread([by_len / at_random for by_len, at_random in zip(
    ratios["train"]["per_repeat"], ratios["train, random batches"]["per_repeat"],
    strict=True)])


def with_spread(figure):
    """A ratio's median over the repeats, with its lowest and highest repeat."""
    return f"**{figure['value']:.2f}x** ({figure['min']:.2f}x to {figure['max']:.2f}x)"


def load(value):
    return "unknown" if value is None else f"{value:.2f}"


def pace(figure):
    """What a ratio of the library to the reference says, in every repeat."""
    if figure["min"] > 1:
        return "faster in every repeat"
    if figure["max"] < 1:
        return "slower in every repeat"
    return "faster in some repeats and slower in others"


code_alone = ratios["train, random batches"]
display(Markdown(
    f"On {first['device']} with {first['threads']} torch thread(s) on {first['cpus']} "
    f"CPUs (load average {load(first['load_before'])} before the measurement, "
    f"{load(first['load_after'])} after), {first['repeats']} repeats of a full pass "
    f"over {first['pairs']} pairs at teacher forcing {first['teacher_forcing']}: the "
    f"library's attention model trains {with_spread(ratios['train'])} as many target "
    f"tokens per second as the re-implemented tutorial code "
    f"({pace(ratios['train'])}). On the same random batches, the code alone gives "
    f"{with_spread(code_alone)} ({pace(code_alone)}); batching by length gives the "
    f"library {with_spread(batching_gain)} over its own random batches. Greedy "
    f"decoding: {with_spread(ratios['decode'])} as many sentences per second "
    f"({pace(ratios['decode'])}). Each figure is the median over the repeats, with the "
    "lowest and the highest repeat in parentheses."))

# %% [markdown]
# Throughput depends on the machine and on whatever else it runs. What the speed-up is made
# of does not: PyTorch's `FlopCounterMode` counts the floating-point operations of the
# forward and backward passes, per target token, of both implementations training on the
# same pairs from the same weights (`seq2code.bench.training_flops`):

# %% tags=["remove-input"]
flops = bench.training_flops(data.pairs["train"], V_src, V_tgt)
display(Markdown(
    f"Per target token, the tutorial-style step computes "
    f"{flops['reference'] / 1e6:,.0f} million floating-point operations and the "
    f"library's {flops['library'] / 1e6:,.0f} million: **{flops['ratio']:.1f}x fewer**, "
    f"from the keys $W_k h_s$ projected once per sequence instead of at every step "
    f"(chapter 4) and from less padding (chapter 1). The measured throughput ratio "
    f"({ratios['train']['value']:.1f}x) is "
    + ("smaller: both pay a per-step overhead (launching many small operations) that "
       "does not shrink with the arithmetic." if ratios["train"]["value"] < flops["ratio"]
       else "larger still: the library also runs fewer and larger operations.")))

# %% tags=["outcome", "remove-cell"]
# The timed ratio is shown, not asserted (it moves with the machine's load); the work each
# implementation does is asserted instead.
assert flops["ratio"] > 2.0, flops
assert all(r["repeats"] == 3 and 0 < r["min"] <= r["value"] <= r["max"]
           for r in ratios.values()), ratios
assert len(ratios) == 3 and first["pairs"] == min(bench_pairs, len(data.pairs["train"]))
for figure in [*ratios.values(), batching_gain]:  # the wording follows the repeats
    assert (pace(figure) == "faster in every repeat") == all(x > 1 for x in
                                                            figure["per_repeat"])
    assert (pace(figure) == "slower in every repeat") == all(x < 1 for x in
                                                            figure["per_repeat"])

# %% [markdown]
# ## 5.4 Accuracy on dev and test
#
# Each model decodes the dev and the test set greedily. Exact match is the share of lines
# written token for token as in Django; **canonical** exact match first puts the string
# literals that the English also contains behind placeholders, on both sides (the
# convention of the published results); BLEU rewards shared n-grams (weak on code); the
# parse rate is the share of outputs that Python's parser accepts.

# %% tags=["hide-input"]
reports = {split: {name: evaluate_model(t, data.split(split))
                   for name, t in trained.items()} for split in ("dev", "test")}
METRICS = {"exact match": "exact_match", "canonical exact match": "exact_match_canonical",
           "BLEU": "bleu", "parses": "parse_rate"}
Table(["split", "model"] + list(METRICS),
      [[split, name] + [r.metrics[key] for key in METRICS.values()]
       for split, by_model in reports.items() for name, r in by_model.items()],
      formats=[None, None, ".1%", ".1%", ".1f", ".1%"])

# %% tags=["outcome", "remove-cell"]
dev_em = {name: r.metrics["exact_match"] for name, r in reports["dev"].items()}
if profile.name == "ci":
    assert all(len(r.predictions) == len(data.test) for r in reports["test"].values())
    assert all(t.history.train_loss[-1] < t.history.train_loss[0]
               for t in trained.values())
else:
    assert dev_em["LSTM + attention"] > dev_em["RNN"], dev_em
    assert dev_em["LSTM + attention"] > dev_em["LSTM"], dev_em

# %% [markdown]
# A test set is a sample of lines: on another sample of the same size the three exact
# matches would come out a little different. Is a difference between two models more than
# that noise? The models are scored on the *same* lines, so their results are paired: line
# $i$ is right or wrong for model A ($a_i \in \{0, 1\}$) and for model B ($b_i$), and the
# difference of their exact match is $\frac{1}{n} \sum_i (a_i - b_i)$. The **paired
# bootstrap** (`seq2code.significance.paired_bootstrap`) draws $n$ lines with replacement
# 2,000 times and recomputes that difference each time; the middle 95% of those
# differences is the interval. This chapter calls a model better than another only when the
# interval excludes 0; otherwise the two are within the noise of this test set.

# %% tags=["hide-input"]
def exact_per_line(report):
    """1.0 where the model wrote the line token for token, else 0.0: one number a line."""
    return [float(p["exact"]) for p in report.predictions]


COMPARED = [("LSTM", "RNN"), ("LSTM + attention", "LSTM"), ("LSTM + attention", "RNN")]
differences = {(split, a, b): paired_bootstrap(exact_per_line(reports[split][a]),
                                              exact_per_line(reports[split][b]))
               for split in reports for a, b in COMPARED}


def winner(d):
    """Which way a difference goes, as its interval says: A, B or neither."""
    return "A" if d.low > 0 else "B" if d.high < 0 else "neither"


Table(["split", "A", "B", "A - B (exact match)", "95% interval", "lines", "better"],
      [[split, a, b, d.difference, f"{d.low:+.1%} to {d.high:+.1%}", d.n,
        {"A": a, "B": b, "neither": "within the noise"}[winner(d)]]
       for (split, a, b), d in differences.items()],
      formats=[None, None, None, "+.1%", None, ",d", None])

# %% tags=["remove-input"]
test_verdicts = [differences["test", a, b].verdict(a, b) for a, b in COMPARED]
dev_disagrees = [(a, b) for a, b in COMPARED
                 if winner(differences["dev", a, b]) != winner(differences["test", a, b])]
display(Markdown(
    f"On the test set (raw exact match, profile `{profile.name}`): "
    + " ".join(test_verdicts) + " "
    + ("The dev set gives the same three verdicts." if not dev_disagrees else
       "The dev set disagrees on "
       + " and ".join(f"{a} against {b}" for a, b in dev_disagrees) + ": "
       + " ".join(differences["dev", a, b].verdict(a, b) for a, b in dev_disagrees))))

# %% tags=["outcome", "remove-cell"]
import inspect

for (split, a, b), d in differences.items():
    # the bootstrap's means are the exact match of the table above, on the same lines
    assert d.n == reports[split][a].metrics["n"] == len(data.split(split)), (split, d)
    assert abs(d.a - reports[split][a].metrics["exact_match"]) < 1e-9, (split, a, d)
    assert abs(d.b - reports[split][b].metrics["exact_match"]) < 1e-9, (split, b, d)
    assert d.low <= d.high and d.clear == (winner(d) != "neither"), d
    # the sentence shown follows the interval: a win only when it excludes 0
    assert ("is better than" in d.verdict(a, b)) == d.clear, d.verdict(a, b)
    assert (f"{a} is better" in d.verdict(a, b)) == (d.low > 0), d.verdict(a, b)
assert len(differences) == 2 * len(COMPARED)
# the text's 2,000 resamples and 95% are the bootstrap's
assert inspect.signature(paired_bootstrap).parameters["resamples"].default == 2000
assert all(d.level == 0.95 for d in differences.values())

# %% [markdown]
# ## 5.5 Exact match by input length
#
# The test set, cut into buckets by the number of English tokens (the table gives how many
# lines each bucket holds):

# %% tags=["hide-input"]
by_length = {name: r.metrics["by_length"] for name, r in reports["test"].items()}
labels = [b["bucket"] for b in by_length["RNN"]]
Table(["English tokens", "examples"] + list(by_length),
      [[rows[0]["bucket"], rows[0]["n"]] + [b["exact_match"] for b in rows]
       for rows in zip(*by_length.values(), strict=True)],
      formats=[None, "d"] + [".1%"] * len(by_length))

# %% tags=["hide-input"]
fig, ax = column_figure(row_height=3.2)
for name, rows in by_length.items():
    ax.plot(labels, [b["exact_match"] for b in rows], marker="o", label=name)
ax.set(xlabel="length of the English description (tokens)", ylabel="test exact match",
       title=f"Exact match by input length (test, profile {profile.name})")
ax.legend()
plt.show()

# %% [markdown]
# Within one bucket a difference between two models rests on that bucket's lines only,
# fewer than the whole test set's. The same paired bootstrap, bucket by bucket (difference
# of exact match, then its 95% interval). Read these intervals with care: at 95% each,
# even between two equally good models about one interval in twenty excludes 0 by chance.

# %% tags=["hide-input"]
buckets = [(b["low"], b["high"]) for b in by_length["RNN"]]


def in_bucket(k, n_tokens):
    """Whether an English input of ``n_tokens`` falls in bucket ``k`` (as the metrics
    count: an empty input falls in the first bucket)."""
    low, high = buckets[k]
    return (n_tokens >= low or k == 0) and (high is None or n_tokens <= high)


lines_of = [[i for i, nl in enumerate(data.nl_tokens["test"]) if in_bucket(k, len(nl))]
            for k in range(len(buckets))]
per_line = {name: exact_per_line(r) for name, r in reports["test"].items()}
bucket_differences = {(labels[k], a, b): paired_bootstrap([per_line[a][i] for i in lines],
                                                          [per_line[b][i] for i in lines])
                      for k, lines in enumerate(lines_of) if lines for a, b in COMPARED}


def interval(d):
    return f"{d.difference:+.1%} ({d.low:+.1%} to {d.high:+.1%})"


Table(["English tokens", "lines"] + [f"{a} - {b}" for a, b in COMPARED],
      [[label, len(lines)] + [interval(bucket_differences[label, a, b]) if lines
                              else "no lines" for a, b in COMPARED]
       for label, lines in zip(labels, lines_of, strict=True)])

# %% tags=["remove-input"]
filled = [label for label, lines in zip(labels, lines_of, strict=True) if lines]


def tokens_span(names):
    """``["1-5", "6-10", "21+"]`` -> ``"1-5, 6-10 and 21+ tokens"``."""
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return joined + " tokens"


def by_bucket(a, b):
    """Where, bucket by bucket, the interval of A - B puts a model ahead."""
    groups = {side: [label for label in filled if winner(bucket_differences[label, a, b])
                     == side] for side in ("A", "B", "neither")}
    parts = [f"{a} is better on descriptions of {tokens_span(groups['A'])}"
             if groups["A"] else "",
             f"{b} is better on descriptions of {tokens_span(groups['B'])}"
             if groups["B"] else "",
             ("the two are within the noise of each other on descriptions of "
              f"{tokens_span(groups['neither'])}") if groups["neither"] else ""]
    return f"{a} against {b}: " + "; ".join(part for part in parts if part) + "."


shortest, longest = filled[0], filled[-1]
share_of = {name: {b["bucket"]: b["exact_match"] for b in rows}
            for name, rows in by_length.items()}


def trend(name):
    """A model's exact match on the longest descriptions against the shortest."""
    short, long = share_of[name][shortest], share_of[name][longest]
    word = "lower than" if long < short else "higher than" if long > short else "equal to"
    return f"{name} {long:.1%}, {word} its {short:.1%}"


display(Markdown(
    (f"Test exact match on the longest descriptions ({longest} tokens) against the "
     f"shortest ({shortest} tokens): " + "; ".join(trend(name) for name in by_length)
     + ". " if len(filled) > 1 else "")
    + " ".join(by_bucket(a, b) for a, b in COMPARED)))

# %% tags=["outcome", "remove-cell"]
assert sum(len(lines) for lines in lines_of) == len(data.test) == len(per_line["RNN"])
for k, lines in enumerate(lines_of):  # the buckets are the metrics' buckets
    for name, rows in by_length.items():
        assert rows[k]["n"] == len(lines), (name, k)
        if lines:
            share = sum(per_line[name][i] for i in lines) / len(lines)
            assert abs(share - rows[k]["exact_match"]) < 1e-9, (name, k)
for (label, a, b), d in bucket_differences.items():  # the sentences follow the intervals
    said = by_bucket(a, b)
    assert (f"{a} is better on" in said) == any(
        bucket_differences[x, a, b].low > 0 for x in filled), said
    assert (f"{b} is better on" in said) == any(
        bucket_differences[x, a, b].high < 0 for x in filled), said
    assert label in said and d.clear == (winner(d) != "neither")
assert tokens_span(["1-5", "6-10", "21+"]) == "1-5, 6-10 and 21+ tokens"
for name in by_length:  # the trend's word follows the two shares
    short, long = share_of[name][shortest], share_of[name][longest]
    assert ("lower" in trend(name)) == (long < short), trend(name)
    assert ("higher" in trend(name)) == (long > short), trend(name)

# %% [markdown]
# ## 5.6 The gradient along the input
#
# As in chapters 2 and 3, `encoder_state_gradients` measures
# $\lVert \partial L / \partial h_s \rVert$ for each source position $s$, on dev
# descriptions that all have the same length $S$. The **reach** is the ratio of the
# gradient at the first word to the gradient at the last word: near 1, the first word gets
# as much training signal as the last.

# %% tags=["hide-input"]
src_lengths = np.array([len(src) for src, _ in data.pairs["dev"]])
S = max(range(12, 25), key=lambda n: int((src_lengths == n).sum()))  # commonest of 12..24
same_length = [pair for pair in data.pairs["dev"] if len(pair[0]) == S]
probe = make_batches(same_length, batch_size=len(same_length), by_length=False)[0]
grads = {name: encoder_state_gradients(t.model, probe)  # [S] each
         for name, t in trained.items()}
reach = {name: (g[0] / g[-1]).item() for name, g in grads.items()}
Table(["model", "gradient at the first word", "gradient at the last word", "reach"],
      [[name, g[0].item(), g[-1].item(), reach[name]] for name, g in grads.items()],
      formats=[None, ".2e", ".2e", ".3f"])

# %% tags=["hide-input"]
fig, ax = column_figure(row_height=3.2)
for name, g in grads.items():
    ax.plot(np.arange(1, S + 1), (g / g[-1]).numpy(), marker="o", label=name)
ax.set_yscale("log")
ax.set(xlabel="source position s (1 = first English token)",
       ylabel=r"$\|\partial L/\partial h_s\|$ / value at $s=S$",
       title=f"Gradient along the input ({len(same_length)} dev descriptions of {S} "
             "tokens)")
whole_epochs(ax)  # positions are whole numbers
ax.legend()
plt.show()

# %% tags=["outcome", "remove-cell"]
assert all(torch.isfinite(g).all() for g in grads.values())
assert reach["LSTM"] > reach["RNN"], reach
assert reach["LSTM + attention"] > reach["RNN"], reach

# %% [markdown]
# ## 5.7 What each model lets you see
#
# The RNN and the LSTM hand the decoder one vector: nothing in them says which English
# word a code token came from. The attention model returns, at every decoding step $t$, a
# weight $\alpha_{t,s}$ for every English word $s$, which is a view into its decisions
# (chapter 4's heatmaps and explorer). What greedy decoding returns for each model, on one
# dev example:

# %%
example = next(i for i, tokens in enumerate(data.nl_tokens["dev"])
               if 6 <= len(tokens) <= 12)
english = data.nl_tokens["dev"][example]  # the S English tokens
reference_tokens = data.code_tokens["dev"][example]
src, src_lens = pad([data.pairs["dev"][example][0]])  # [1, S], [1]
decoded, see_rows = {}, []
for name, t in trained.items():
    result = greedy_decode(t.model, src, src_lens, profile.max_tgt_len)
    tokens = t.tgt_vocab.decode(result.tokens[0])
    # alpha: [n, S], alpha_{t,s} for the n steps and S words (None without attention)
    alpha = None if result.attention is None else result.attention[0]
    decoded[name] = (tokens, alpha)
    shows = ("none" if alpha is None else
             f"attention weights [{alpha.shape[0]} steps x {alpha.shape[1]} words]")
    see_rows.append([name, " ".join(tokens),
                     "yes" if tokens == reference_tokens else "no", shows])
print("English:", data.dev[example].nl)
print("Django: ", data.dev[example].code.strip())
Table(["model", "greedy output", "exact", "what it shows besides the output"], see_rows)

# %% [markdown]
# The attention model's weights, read step by step: for each code token it wrote, the
# English word with the highest weight $\alpha_{t,s}$.

# %%
tokens, alpha = decoded["LSTM + attention"]  # alpha: [n, S]
top = alpha.argmax(dim=1).tolist() if len(tokens) else []  # [n] the most attended s
Table(["step t", "code token", "most attended English word", "its weight"],
      [[t + 1, token, english[s], alpha[t, s].item()]
       for t, (token, s) in enumerate(zip(tokens, top, strict=True))],
      formats=["d", None, None, ".2f"])

# %% tags=["remove-input"]
exact = [name for name, (out, _) in decoded.items() if out == reference_tokens]
shared = [t for t, token in enumerate(tokens) if token in english]  # words of the English
on_the_word = [t for t in shared if english[top[t]] == tokens[t]]
blind = [name for name, (_, weights) in decoded.items() if weights is None]
display(Markdown(
    ("On this example " + " and ".join(exact) + " wrote the Django line exactly. "
     if exact else "On this example none of the three wrote the Django line exactly. ")
    + f"The {' and the '.join(blind)} return their tokens and nothing else. The "
    f"attention model also returns one row of weights per step, {alpha.shape[0]} rows "
    f"over the {alpha.shape[1]} English words"
    + (f": of the {len(shared)} code tokens it wrote that also occur in the English, "
       f"{len(on_the_word)} put their highest weight on that very word." if shared else
       ", though none of the code tokens it wrote occurs in the English.")))

# %% tags=["outcome", "remove-cell"]
assert blind == ["RNN", "LSTM"], blind  # only the attention model shows what it read
assert alpha.shape == (len(tokens), len(english)) == (len(tokens), int(src_lens[0]))
assert torch.allclose(alpha.sum(dim=1), torch.ones(len(tokens)), atol=1e-5)
assert all((name in exact) == (see_rows[k][2] == "yes")
           for k, name in enumerate(decoded))
assert set(on_the_word) <= set(shared) and all(tokens[t] in english for t in shared)

# %% [markdown]
# ## 5.8 Time to quality
#
# How long does each model take to reach its best dev exact match, in this profile? The
# curves below put the dev exact match of every epoch against the cumulative training time
# (from the `History`, including the dev evaluation of each epoch).

# %% tags=["hide-input"]
fig, ax = column_figure(row_height=3.2)
for name, t in trained.items():
    minutes = np.cumsum(t.history.epoch_seconds) / 60
    ax.plot(minutes, t.history.dev_exact_match, marker="o", label=name)
ax.set(xlabel="training time (minutes)", ylabel="dev exact match",
       title=f"Dev exact match against training time (profile {profile.name})")
ax.legend()
plt.show()
attention_history = trained["LSTM + attention"].history
display(Markdown(
    f"In the `{profile.name}` profile the attention model reached its best dev exact "
    f"match, {max(attention_history.dev_exact_match):.1%}, after epoch "
    f"{attention_history.best_epoch + 1} of {len(attention_history.dev_exact_match)}, "
    f"**{time_to_best(attention_history):.1f} minutes** into training."))

# %% [markdown]
# ## 5.9 Beside the published results
#
# The published Django results (exact match on the test set, string literals put behind
# placeholders, so they compare with our *canonical* exact match) and ours, labelled by
# profile:

# %% tags=["hide-input"]
PUBLISHED = [
    ["seq2seq with attention (Ling et al. 2016, as reported)", 0.451],
    ["latent predictor network (Ling et al. 2016)", 0.623],
    ["TranX, its training script (Yin & Neubig 2018)", 0.739],
    ["TranX, its released model", 0.772],
    ["TranX with reranking (Yin & Neubig 2019)", 0.802],
]
ours = reports["test"]["LSTM + attention"].metrics
n_test = ours["n"]
comparison = [[name, "published", "canonical", value] for name, value in PUBLISHED]
comparison += [[f"ours: LSTM + attention, profile {profile.name} ({n_test} test lines)",
                "measured", metric, ours[key]]
               for metric, key in (("raw", "exact_match"),
                                   ("canonical", "exact_match_canonical"))]
Table(["model", "source", "exact match", "test exact match"], comparison,
      formats=[None, None, None, ".1%"])

# %% [markdown]
# Why is ours so far below? Not mainly because of training time: the models of this course
# can only write tokens of their code vocabulary. A Django line that holds a rare name or
# string (a token seen fewer than `min_freq` times in training, so `<unk>` to the model)
# cannot be written exactly, however well the model is trained. The share of such test
# lines is an upper bound on what any model without copying can miss for that reason alone:

# %% tags=["remove-input"]
vocab = data.tgt_vocab.stoi
oov = [[token for token in code if token not in vocab]
       for code in data.code_tokens["test"]]
with_unk = sum(bool(tokens) for tokens in oov) / len(oov)
share_copyable = sum(any(token in nl for token in tokens) for tokens, nl
                     in zip(oov, data.nl_tokens["test"], strict=True)) / len(oov)
display(Markdown(
    f"In the `{profile.name}` profile, **{with_unk:.1%}** of the test lines hold a code "
    f"token outside the vocabulary, so no model of chapters 2-4 can write them exactly, "
    f"whatever its training: its test exact match is at most {1 - with_unk:.1%}. In "
    f"{share_copyable:.1%} of the test lines such a token also appears in the English "
    "description: a model that can **copy** a word of the input into its output could "
    "write it. The published seq2seq result (45.1%) replaces unknown words with the "
    "source word that the attention points to; the latent predictor network and TranX "
    "copy by design. Copying is the subject of chapter 7."))

# %% tags=["outcome", "remove-cell"]
assert 0 < with_unk < 1 and 0 < share_copyable <= with_unk + 1e-9
assert ours["exact_match"] <= 1 - with_unk + 1e-9  # the bound holds
# below the published seq2seq result, as said
assert ours["exact_match_canonical"] < 0.451

# %% [markdown]
# ## 5.10 Exercises
#
# Replace `raise NotImplementedError` with your answer and run the cell: the check under it
# tries your function on small cases and prints a tick, or a hint that names the mistake.
# The solution follows in a hidden cell.
#
# ### Exercise 1: the attention model's parameters by hand
#
# Write `attention_parameters(V_src, V_tgt, E, H)`, the number of parameters of
# `build_model("attention", V_src, V_tgt, emb_dim=E, hidden_dim=H)`, from its parts: the
# two embeddings, the encoder's LSTM (input $E$), the decoder's LSTM (input
# $[e(y_{t-1}); c_t]$), the attention ($W_q$, $W_k$, $v$, no biases) and the output layer
# (input $[s_t; c_t]$). The check compares it with `count_parameters` on several sizes.
#
# <details><summary>Hint</summary>
# Count part by part. Chapter 3's count of an LSTM layer holds for any input size: write it
# once as a function of the input size, then use it for the encoder (it reads an embedding)
# and for the decoder (it reads an embedding and a context side by side: how many numbers
# is that?). The attention has no biases, and the output layer reads <code>[s_t; c_t]</code>.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch05 import check_attention_parameters


def attention_parameters(V_src, V_tgt, E, H):
    # your code here
    raise NotImplementedError


check_attention_parameters(attention_parameters)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
from seq2code.exercises.ch05 import check_attention_parameters


def attention_parameters(V_src, V_tgt, E, H):
    """Parameters of the LSTM encoder-decoder with additive attention."""

    def lstm_layer(n_in):
        return 4 * (H * n_in + H * H + 2 * H)  # gates i, f, g, o: W_ih, W_hh, b_ih, b_hh

    embeddings = V_src * E + V_tgt * E
    attention = 2 * H * H + H  # W_q, W_k (W_t, W_s) (H x H each), v (H)
    output = 2 * H * V_tgt + V_tgt  # W_o reads [s_t; c_t], b_o
    return embeddings + lstm_layer(E) + lstm_layer(E + H) + attention + output


check_attention_parameters(attention_parameters, strict=True)

# %% [markdown]
# ### Exercise 2: tokens per second
#
# An epoch's batches of targets were trained in `seconds`. Write
# `tokens_per_second(targets, seconds)`, where `targets` is the list of the batches' target
# tensors, each `[B, T]` holding `<sos> y_1 .. y_n <eos>` and then `<pad>` (id 0): the
# training throughput in target tokens per second, counting what the loss scores.
#
# <details><summary>Hint</summary>
# The loss scores what the decoder predicts (section 1.8): which position of a target does
# nothing predict? Padding is not scored; <code>&lt;eos&gt;</code> is. Add the scored tokens
# up over every batch before dividing by the time.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch05 import check_tokens_per_second


def tokens_per_second(targets, seconds):
    # your code here
    raise NotImplementedError


check_tokens_per_second(tokens_per_second)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
from seq2code.exercises.ch05 import check_tokens_per_second

PAD_ID = 0


def tokens_per_second(targets, seconds):
    """Target tokens scored by the loss (``tgt[:, 1:]`` without padding) per second."""
    scored = sum(int((tgt[:, 1:] != PAD_ID).sum()) for tgt in targets)
    return scored / seconds


check_tokens_per_second(tokens_per_second, strict=True)

# %% [markdown]
# ### Exercise 3: exact match by input length
#
# Write `exact_match_by_length(exact, lengths, buckets)`: `exact[i]` says whether example
# $i$ was written exactly, `lengths[i]` is the number of tokens of its English description,
# and `buckets` is a list of `(low, high)` bounds, both included, `high` `None` for no upper
# limit (the course's are `((1, 5), (6, 10), (11, 20), (21, None))`). Return the share of
# exact matches in each bucket, 0.0 for a bucket without examples: the numbers plotted in
# 5.5.
#
# <details><summary>Hint</summary>
# Both bounds are included, and a <code>high</code> of <code>None</code> has no upper limit:
# test for <code>None</code> before comparing with it. A bucket's share is its matches over
# its own examples, and a bucket without examples must not be divided by.
# </details>

# %% tags=["exercise"]
from seq2code.exercises.ch05 import check_exact_match_by_length


def exact_match_by_length(exact, lengths, buckets):
    # your code here
    raise NotImplementedError


check_exact_match_by_length(exact_match_by_length)

# %% tags=["solution", "hide-input"] cellView="form"
# @title Solution
from seq2code.exercises.ch05 import check_exact_match_by_length


def exact_match_by_length(exact, lengths, buckets):
    """The share of exact matches among the examples of each ``(low, high)`` bucket."""
    shares = []
    for low, high in buckets:
        inside = [hit for hit, n in zip(exact, lengths, strict=True)
                  if n >= low and (high is None or n <= high)]
        shares.append(sum(inside) / len(inside) if inside else 0.0)
    return shares


check_exact_match_by_length(exact_match_by_length, strict=True)

# %% [markdown]
# ## Summary
#
# - The parameter counts follow from the parts of each model; the formula and the count
#   agree, at the reference setting and at the Django vocabularies, where the embeddings
#   and the output layer take a large share.
# - The training history gives each model's time per epoch and tokens per second. Against
#   the course's own re-implementation of tutorial-style attention code (`seq2code.reference`,
#   the same function), the library's attention model does less than half the arithmetic
#   per target token: the source half of the score once per sentence, and batches of
#   similar lengths; 5.3 gives the speed ratios measured in this build, with their spread
#   over the repeats.
# - The tables of 5.4 and 5.5 compare the three models on dev and test, overall and by input
#   length, each difference with a paired-bootstrap interval: a model is called better only
#   where its interval excludes 0, and the text says so case by case. The gradient of 5.6
#   shows how far back each model's training signal reaches; only the attention model shows
#   which words it read (5.7).
# - A model that can only write the tokens of its vocabulary is bounded on Django, whose
#   lines are full of rare names and strings: the published results copy words from the
#   English into the code, which is where chapter 7 goes.
