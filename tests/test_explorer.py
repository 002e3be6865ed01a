"""The attention explorer: its traces agree with the model, and driving the widget's callbacks
updates what it shows."""

import pytest
import torch

from seq2code.data import Example
from seq2code.decoding import greedy_decode
from seq2code.experiment import Trained
from seq2code.explorer import AttentionExplorer, step_html, trace_decoding
from seq2code.models import build_model
from seq2code.vocab import Vocab

NL = ["return the value of x", "call foo with y"]
CODE = ["return x", "foo ( y )"]


@pytest.fixture
def trained():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    src_vocab = Vocab.build([s.split() for s in NL])
    tgt_vocab = Vocab.build([c.split() for c in CODE])
    model = build_model("attention", len(src_vocab), len(tgt_vocab), emb_dim=8, hidden_dim=16)
    config = {"kind": "attention", "profile": {"max_src_len": 10, "max_tgt_len": 6}}
    return Trained(model.eval(), src_vocab, tgt_vocab, None, None, config)


def test_trace_matches_greedy_decoding_and_the_reference(trained):
    trace = trace_decoding(trained, NL[0], CODE[0], top_k=3)
    assert trace.source == NL[0].split()
    # teacher-forced: one step per reference token and <eos>, reading <sos> then the reference
    assert len(trace.forced) == len(trace.reference) + 1
    assert [s.fed for s in trace.forced] == ["<sos>", "return", "x"]
    # free-running: the same tokens as the library's greedy decoding
    src = torch.tensor([trained.src_vocab.encode(trace.source)])
    result = greedy_decode(trained.model, src, torch.tensor([src.size(1)]), 6)
    free_tokens = [s.predicted for s in trace.free if s.predicted != "<eos>"]
    assert free_tokens == trained.tgt_vocab.decode(result.tokens[0])
    for step in trace.forced + trace.free:
        assert len(step.attention) == len(trace.source)
        assert sum(step.attention) == pytest.approx(1.0, abs=1e-5)
        assert len(step.top) == 3 and step.top[0][0] == step.predicted
        assert step.top[0][1] >= step.top[1][1] >= step.top[2][1]
    # the first free step reads <sos> like the first forced step: same attention
    assert trace.free[0].attention == pytest.approx(trace.forced[0].attention)


def test_step_html_shows_both_columns_and_past_the_end(trained):
    trace = trace_decoding(trained, NL[1], CODE[1])
    page = step_html(trace, 0)
    assert "teacher-forced" in page and "free-running" in page and "&lt;sos&gt;" in page
    assert "finished after" in step_html(trace, trace.n_steps + 3)


def test_widget_callbacks_follow_the_dropdown_and_the_slider(trained):
    examples = [Example(i, nl, code) for i, (nl, code) in enumerate(zip(NL, CODE, strict=True))]
    explorer = AttentionExplorer(trained, examples, top_k=2)
    assert explorer.trace.source == NL[0].split()
    first = explorer.view.value
    explorer.step.value = 1  # drives on_step through the widget's observer
    assert explorer.view.value != first
    assert explorer.view.value == step_html(explorer.trace, 1)
    explorer.example.value = 1  # drives on_example: new trace, back to step 0
    assert explorer.trace.source == NL[1].split()
    assert explorer.step.value == 0
    assert explorer.step.max == explorer.trace.n_steps - 1
    assert explorer.view.value == step_html(explorer.trace, 0)
