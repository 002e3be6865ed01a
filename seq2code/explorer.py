"""An attention explorer for Jupyter and Colab (chapter 4).

The logic is in pure functions that the widget's callbacks call (and that the tests drive):

- :func:`trace_decoding` runs the decoder of an attention model step by step on one example,
  once **teacher-forced** (it reads the reference token) and once **free-running** (it reads
  its own greedy guess), and records at each step the attention row and the top-k next tokens;
- :func:`step_html` renders one step of both traces side by side as HTML;
- :class:`AttentionExplorer` wires them to ipywidgets: a dropdown chooses the example, a slider
  the step.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import torch

from seq2code.decoding import greedy_decode
from seq2code.tokens import tokenize_code, tokenize_nl
from seq2code.vocab import SOS_ID


@dataclass
class Step:
    """One decoding step.

    Attributes:
        fed: the token the decoder read, ``y_{t-1}``.
        predicted: its greedy choice ``argmax p(y_t | ...)``.
        attention: ``[S]`` the weights ``alpha_t`` over the source tokens.
        top: the ``k`` most probable next tokens with their probabilities.
    """

    fed: str
    predicted: str
    attention: list[float]
    top: list[tuple[str, float]]


@dataclass
class Trace:
    """Both decodings of one example.

    Attributes:
        source: the English tokens (cut to the model's maximum input length).
        reference: the reference code tokens.
        forced: the teacher-forced steps (one per reference token and ``<eos>``).
        free: the free-running steps (until ``<eos>`` or the maximum length).
    """

    source: list[str]
    reference: list[str]
    forced: list[Step]
    free: list[Step]

    @property
    def n_steps(self) -> int:
        return max(len(self.forced), len(self.free))


@torch.no_grad()
def trace_decoding(trained, nl: str, code: str, top_k: int = 5,
                   max_len: int | None = None) -> Trace:
    """Decode one example step by step, teacher-forced and free-running.

    Args:
        trained: a :class:`seq2code.experiment.Trained` attention model.
        nl: the English description.
        code: the reference line of Python.
        top_k: how many next tokens to keep per step.
        max_len: the most free-running steps (default: the model's ``max_tgt_len``).
    """
    model, tgt_vocab = trained.model, trained.tgt_vocab
    words = tokenize_nl(nl)
    if trained.max_src_len:
        words = words[: trained.max_src_len]
    if not words:
        raise ValueError("the description has no tokens")
    reference = tokenize_code(code)
    view, _ = model.source_view(words)  # the English as the model reads it
    src_ids, gold = model.encode_pairs([words], [reference], trained.src_vocab, tgt_vocab)[0]
    src = torch.tensor([src_ids])  # [1, S] ids x
    src_lens = torch.tensor([len(src_ids)])  # [1]
    gold_out = torch.tensor([gold[1:]])  # [1, n + 1]  y_1 .. y_n <eos>

    def keep(step) -> tuple[list[float], list[tuple[int, float]]]:
        if step.attention is None:
            raise ValueError("the explorer needs a model with attention")
        probs = torch.softmax(step.logits[0], dim=-1)  # [V] p(y_t | y_<t, x)
        top_p, top_i = probs.topk(min(top_k, probs.numel()))
        return step.attention[0].tolist(), list(zip(top_i.tolist(), top_p.tolist(), strict=True))

    def steps(fed: list[int], records: list) -> list[Step]:
        name = lambda i: model.token(i, view, tgt_vocab)  # noqa: E731
        return [Step(name(prev), name(top[0][0]), weights, [(name(i), p) for i, p in top])
                for prev, (weights, top) in zip(fed, records, strict=False)]

    forced = greedy_decode(model, src, src_lens, 0, forced=gold_out[:, :-1], record=keep)
    free = greedy_decode(model, src, src_lens, max_len or trained.max_tgt_len or 100,
                         record=keep)
    free_fed = [SOS_ID] + [top[0][0] for _, top in free.records]
    return Trace(view, reference, steps(gold[:-1], forced.records),
                 steps(free_fed, free.records))


def _attention_html(source: list[str], weights: list[float]) -> str:
    """The source tokens, each shaded by its weight."""
    cells = []
    for token, w in zip(source, weights, strict=True):
        cells.append(f'<span title="{w:.3f}" style="background: rgba(220, 50, 32, {w:.3f}); '
                     f'padding: 1px 3px; margin: 1px; border-radius: 3px">'
                     f"{html.escape(token)}</span>")
    return " ".join(cells)


def _step_column(title: str, steps: list[Step], step: int, source: list[str]) -> str:
    if step >= len(steps):
        return f"<div style='flex: 1'><b>{title}</b><p>(finished after {len(steps)} steps)</p></div>"
    s = steps[step]
    generated = " ".join(html.escape(x.predicted) for x in steps[: step + 1])
    top = "".join(f"<tr><td><code>{html.escape(tok)}</code></td><td>{p:.1%}</td></tr>"
                  for tok, p in s.top)
    return (f"<div style='flex: 1'><b>{title}</b>"
            f"<p>reads <code>{html.escape(s.fed)}</code>, predicts "
            f"<code>{html.escape(s.predicted)}</code></p>"
            f"<p>{_attention_html(source, s.attention)}</p>"
            f"<table><tr><th>next token</th><th>p</th></tr>{top}</table>"
            f"<p>so far: <code>{generated}</code></p></div>")


def step_html(trace: Trace, step: int) -> str:
    """Step ``step`` (0-based) of both decodings side by side, as HTML."""
    reference = html.escape(" ".join(trace.reference))
    return (f"<p>reference: <code>{reference}</code></p>"
            "<div style='display: flex; gap: 2em'>"
            + _step_column("teacher-forced", trace.forced, step, trace.source)
            + _step_column("free-running", trace.free, step, trace.source)
            + "</div>")


class AttentionExplorer:
    """The widget: choose an example, step through its decoding.

    Args:
        trained: a trained attention model.
        examples: ``seq2code.data.Example`` objects to choose from.
        top_k: next tokens shown per step.

    Attributes:
        example: the dropdown (value: index into ``examples``).
        step: the slider (value: 0-based step).
        view: the HTML widget that shows the step.
        widget: the whole explorer, to display.
    """

    def __init__(self, trained, examples, top_k: int = 5):
        import ipywidgets as widgets

        self.trained, self.examples, self.top_k = trained, list(examples), top_k
        options = [(f"{i}: {ex.nl[:70]}", i) for i, ex in enumerate(self.examples)]
        self.example = widgets.Dropdown(options=options, value=0, description="example",
                                        layout=widgets.Layout(width="95%"))
        self.step = widgets.IntSlider(value=0, min=0, max=0, description="step")
        self.view = widgets.HTML()
        self.example.observe(self.on_example, names="value")
        self.step.observe(self.on_step, names="value")
        self.widget = widgets.VBox([self.example, self.step, self.view])
        self.on_example({"new": 0})

    def on_example(self, change: dict) -> None:
        """Callback of the dropdown: trace the chosen example, go back to step 0."""
        ex = self.examples[change["new"]]
        self.trace = trace_decoding(self.trained, ex.nl, ex.code, self.top_k)
        self.step.max = self.trace.n_steps - 1
        self.step.value = 0
        self.on_step({"new": 0})

    def on_step(self, change: dict) -> None:
        """Callback of the slider: show the chosen step."""
        self.view.value = step_html(self.trace, change["new"])
