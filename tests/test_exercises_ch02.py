"""Chapter 2's exercise checks: the notebook's solutions pass, typical mistakes get their hint."""

import pytest
import torch
from test_exercises import assert_hint, chapter_tests, notebook_solution, verdict

from seq2code.exercises import CORRECT
from seq2code.exercises.ch02 import (
    PARAMETER_CASES,
    _rnn_mistakes,
    check_greedy_decode,
    check_rnn_parameters,
    check_rnn_step,
)

CHAPTER = "02_rnn"
CHECKS = [(check_rnn_parameters, "rnn_parameters"), (check_rnn_step, "rnn_step"),
          (check_greedy_decode, "greedy_decode")]


test_the_notebooks_solution_passes, test_the_stub_is_not_attempted = chapter_tests(
    CHAPTER, CHECKS)


@pytest.mark.parametrize("gates", [1, 4])
def test_every_counting_mistake_changes_the_count_differently(gates):
    mistakes = _rnn_mistakes(*PARAMETER_CASES[0], gates=gates)
    expected = 14 + (gates == 4)
    assert len(mistakes) == expected and 0 not in mistakes


def count(emb=2, layers=2, weights_hh=True, biases=2, out_in="H", out_vocab="tgt",
          out_bias=True, gates=1, hard_code=False):
    """A parameter formula with one knob per typical mistake."""
    def formula(v_src, v_tgt, e, h):
        if hard_code:
            h = 3
        embeddings = (v_src * e + v_tgt * e) if emb == 2 else v_src * e
        layer = gates * (h * e + (h * h if weights_hh else 0) + biases * h)
        n_in = h if out_in == "H" else e
        vocab = v_tgt if out_vocab == "tgt" else v_src
        return embeddings + layers * layer + n_in * vocab + (vocab if out_bias else 0)
    return formula


@pytest.mark.parametrize(("answer", "hint"), [
    (count(biases=1), "two bias vectors per recurrent layer"),
    (count(biases=0), "left out the recurrent layers' biases"),
    (count(out_bias=False), "output layer's bias"),
    (count(emb=1), "left out the code embedding"),
    (count(layers=1), "you counted one recurrent layer"),
    (count(weights_hh=False), "recurrent weights W_hh"),
    (count(out_vocab="src"), "scores the *code* vocabulary"),
    (count(out_in="E"), "reads the decoder state h_t"),
    (count(hard_code=True), "hard-coded"),
    (count(gates=4), "your formula gives"),
    (lambda *sizes: "many", "should return a number"),
    (lambda *sizes: 0.5, "whole number"),
    (lambda *sizes: None, "forget to `return` the count"),
])
def test_rnn_parameters_mistakes(answer, hint):
    assert_hint(check_rnn_parameters, answer, hint)


def test_rnn_parameters_accepts_a_float_or_tensor_count():
    right = notebook_solution(CHAPTER, "rnn_parameters")
    assert verdict(check_rnn_parameters, lambda *s: float(right(*s))).status == CORRECT
    assert verdict(check_rnn_parameters, lambda *s: torch.tensor(right(*s))).status == CORRECT


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda x, h, Wx, Wh, b: x @ Wx.T + h @ Wh.T + b, "apply tanh"),
    (lambda x, h, Wx, Wh, b: torch.sigmoid(x @ Wx.T + h @ Wh.T + b), "not sigmoid"),
    (lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx.T + h @ Wh + b), "W_hh is used untransposed"),
    (lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx.T + h @ Wh.T), "forgot the bias"),
    (lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx.T + b), "state must be carried"),
    (lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx.T) + h @ Wh.T + b, "the whole sum"),
    (lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx + h @ Wh.T + b), "`x_t @ W_xh.T`"),
    (lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx.T + h @ Wh.T + b).T, "transposed"),
    (lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx.T + h @ Wh.T + b)[0], "expected shape [2, 4]"),
])
def test_rnn_step_mistakes(answer, hint):
    assert_hint(check_rnn_step, answer, hint)


def greedy(pad_after_eos=True, keep_eos=True, stop="all", feed="prediction", argmax_dim=-1,
           stack_dim=1, extra_step=False):
    """A greedy decoding loop with one knob per typical mistake."""
    def greedy_decode(step, batch_size, max_len):
        prev = torch.full((batch_size,), 1, dtype=torch.long)
        finished = torch.zeros(batch_size, dtype=torch.bool)
        outputs = []
        for _ in range(max_len + (1 if extra_step else 0)):
            y = step(prev).argmax(dim=argmax_dim)
            if not keep_eos:
                finished |= y == 2
            if pad_after_eos:
                y = torch.where(finished, torch.zeros_like(y), y)
            outputs.append(y)
            finished |= y == 2
            prev = y if feed == "prediction" else torch.ones_like(y)
            if (stop == "all" and finished.all()) or (stop == "any" and finished.any()):
                break
        return torch.stack(outputs, dim=stack_dim)
    return greedy_decode


@pytest.mark.parametrize(("answer", "hint"), [
    (greedy(pad_after_eos=False), "goes on after its <eos>"),
    (greedy(keep_eos=False), "lost its <eos>"),
    (greedy(stop="any"), "must not stop the others"),
    (greedy(stop="never"), "but your loop went on for 8"),
    (greedy(feed="sos"), "feed back each step's prediction"),
    (greedy(argmax_dim=0), "`logits.argmax(dim=-1)`, shape [B]"),
    (greedy(stack_dim=0), "one row per example"),
    (greedy(stop="never", extra_step=True), "decode at most max_len steps"),
    (lambda step, b, n: [[5]], "should be a torch.Tensor"),
    (lambda step, b, n: [step(torch.ones(b, dtype=torch.long)).argmax(-1)], "stack them"),
])
def test_greedy_decode_mistakes(answer, hint):
    assert_hint(check_greedy_decode, answer, hint)
