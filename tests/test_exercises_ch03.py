"""Chapter 3's exercise checks: the notebook's solutions pass, typical mistakes get their hint."""

import pytest
import torch
from test_exercises import assert_hint, chapter_tests, verdict
from torch import nn

from seq2code.exercises import CORRECT
from seq2code.exercises.ch03 import (
    _run,
    _step,
    check_lstm_parameters,
    check_lstm_step,
    check_run_lstm,
)

CHAPTER = "03_lstm"
CHECKS = [(check_lstm_parameters, "lstm_parameters"), (check_lstm_step, "lstm_step"),
          (check_run_lstm, "run_lstm")]


test_the_notebooks_solution_passes, test_the_stub_is_not_attempted = chapter_tests(
    CHAPTER, CHECKS)


def lstm_count(gates=4, biases=2, layers=2, biases_outside=False):
    def formula(v_src, v_tgt, e, h):
        if biases_outside:  # 4 (H E + H H) + biases H
            layer = gates * (h * e + h * h) + biases * h
        else:
            layer = gates * (h * e + h * h + biases * h)
        return v_src * e + v_tgt * e + layers * layer + h * v_tgt + v_tgt
    return formula


def lstm_count_one_layer_without_w_hh(v_src, v_tgt, e, h):
    return lstm_count()(v_src, v_tgt, e, h) - 4 * h * h


@pytest.mark.parametrize(("answer", "hint"), [
    (lstm_count(gates=1), "an LSTM layer has four blocks of weights"),
    (lstm_count(biases=1), "two bias vectors per recurrent layer"),
    (lstm_count(layers=1), "you counted one recurrent layer"),
    (lstm_count(gates=3), "your formula gives"),
    (lstm_count(biases_outside=True), "you counted the biases outside the x4"),
    (lstm_count(biases=1, biases_outside=True), "you counted one bias per layer, outside"),
    # on the first sizes -4 H^2 = -12 H: this mistake must keep its own hint
    (lstm_count_one_layer_without_w_hh, "lacks its recurrent weight W_hh"),
])
def test_lstm_parameters_mistakes(answer, hint):
    assert_hint(check_lstm_parameters, answer, hint)


def test_the_biases_outside_hint_does_not_name_w_hh():
    feedback = verdict(check_lstm_parameters, lstm_count(biases_outside=True))
    assert "W_hh (H x H)" not in feedback.message and "lacks" not in feedback.message


def step_with(**mistake):
    return lambda x, h, c, *weights: _step(x, h, c, *weights, **mistake)


def pytorch_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """A wrong answer: PyTorch's own cell, loaded with the weights."""
    cell = nn.LSTMCell(W_ih.size(1), W_hh.size(1))
    with torch.no_grad():
        for p, w in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh),
                        (W_ih, W_hh, b_ih, b_hh), strict=True):
            p.copy_(w)
    return cell(x, (h, c))


@pytest.mark.parametrize(("answer", "hint"), [
    (step_with(order="ifog"), "the order i, f, g, o"),
    (step_with(order="fiog"), "the order i, f, g, o"),
    (step_with(g_act=torch.sigmoid), "uses tanh, not sigmoid"),
    (step_with(h_tanh=False), "you forgot the tanh of the cell"),
    (step_with(use_i=False), "the input gate i_t"),
    (step_with(use_f=False), "the forget gate f_t"),
    (step_with(bias_hh=False), "you forgot `b_hh`"),
    (step_with(bias_ih=False), "you forgot `b_ih`"),
    (step_with(bias_ih=False, bias_hh=False), "you forgot the biases"),
    (lambda x, h, c, *w: _step(x, h, c, *w)[::-1], "return `(h_t, c_t)`"),
    (lambda x, h, c, *w: _step(x, h, torch.zeros_like(c), *w), "c_t ignores c_prev"),
    (lambda x, h, c, *w: _step(x, h, c, *w)[0], "should return the pair"),
    (lambda x, h, c, W_ih, *w: x @ W_ih, "`x_t @ W_ih.T`"),
    (lambda x, h, c, *w: (_step(x, h, c, *w)[0].T, c), "h_t: expected shape [2, 4]"),
    (lambda x, h, c, W_ih, *w: (torch.tanh(x @ W_ih.T)[:, :4], c), "(h_t, c_t): values"),
    (pytorch_cell, "runs PyTorch's own LSTM"),
    (lambda x, h, c, *w: torch.lstm_cell(x, (h, c), *w), "runs PyTorch's own LSTM"),
])
def test_lstm_step_mistakes(answer, hint):
    assert_hint(check_lstm_step, answer, hint)


def test_lstm_step_gets_raw_weights_in_the_lstm_cells_layout():
    """The answer receives (W_ih [4H, E], W_hh [4H, H], b_ih [4H], b_hh [4H]), plain tensors."""
    received = []

    def spy(x, h, c, *weights):
        received.extend(weights)
        return _step(x, h, c, *weights)

    assert verdict(check_lstm_step, spy).status == CORRECT
    assert [tuple(w.shape) for w in received] == [(16, 3), (16, 4), (16,), (16,)]
    assert all(type(w) is torch.Tensor and not w.requires_grad for w in received)


def run_with(**mistake):
    def run_lstm(xs, lengths, cell):
        outputs, h, c = _run(xs, lengths, cell, **mistake)
        return outputs, (h, c)
    return run_lstm


@pytest.mark.parametrize(("answer", "hint"), [
    (run_with(carry_h=False, carry_c=False), "the state is not carried"),
    (run_with(carry_c=False), "the cell c is not carried"),
    (run_with(carry_h=False), "h is not carried"),
    (run_with(hold_padding=False), "padding changed the state: row 1 has length 2"),
    (run_with(hold_padding=False, zero_padding=False), "padding changed the state and the out"),
    (run_with(zero_padding=False), "outputs at padded positions must be 0"),
    (lambda xs, lens, cell: run_with()(xs, lens, cell)[0], "return `outputs, (h, c)`"),
    (lambda xs, lens, cell: (run_with()(xs, lens, cell)[0].transpose(0, 1),
                             run_with()(xs, lens, cell)[1]), "outputs: expected shape"),
])
def test_run_lstm_mistakes(answer, hint):
    assert_hint(check_run_lstm, answer, hint)


def test_run_lstm_reference_matches_the_packed_library_encoder():
    """The check's reference (state held over padding) is what a packed nn.LSTM computes."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 2, batch_first=True)
    cell = torch.nn.LSTMCell(3, 2)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(lstm, f"{name}_l0"))
        xs, lengths = torch.randn(3, 4, 3), torch.tensor([4, 2, 3])
        packed, (h, c) = lstm(pack_padded_sequence(xs, lengths, batch_first=True,
                                                   enforce_sorted=False))
        outputs, _ = pad_packed_sequence(packed, batch_first=True, total_length=4)
        ours = _run(xs, lengths, cell)
    torch.testing.assert_close(ours, (outputs, h[0], c[0]))
