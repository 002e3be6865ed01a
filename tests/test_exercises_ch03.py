"""Chapter 3's exercise checks: the notebook's solutions pass, typical mistakes get their hint."""

import pytest
import torch
from test_exercises import assert_hint, chapter_tests

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


def lstm_count(gates=4, biases=2, layers=2):
    def formula(v_src, v_tgt, e, h):
        layer = gates * (h * e + h * h + biases * h)
        return v_src * e + v_tgt * e + layers * layer + h * v_tgt + v_tgt
    return formula


@pytest.mark.parametrize(("answer", "hint"), [
    (lstm_count(gates=1), "an LSTM layer has four blocks of weights"),
    (lstm_count(biases=1), "two bias vectors per recurrent layer"),
    (lstm_count(layers=1), "you counted one recurrent layer"),
    (lstm_count(gates=3), "your formula gives"),
])
def test_lstm_parameters_mistakes(answer, hint):
    assert_hint(check_lstm_parameters, answer, hint)


def step_with(**mistake):
    return lambda x, h, c, cell: _step(x, h, c, cell, **mistake)


@pytest.mark.parametrize(("answer", "hint"), [
    (step_with(order="ifog"), "the order i, f, g, o"),
    (step_with(order="fiog"), "the order i, f, g, o"),
    (step_with(g_act=torch.sigmoid), "uses tanh, not sigmoid"),
    (step_with(h_tanh=False), "you forgot the tanh of the cell"),
    (step_with(use_i=False), "the input gate i_t"),
    (step_with(use_f=False), "the forget gate f_t"),
    (step_with(bias_hh=False), "you forgot `cell.bias_hh`"),
    (lambda x, h, c, cell: _step(x, h, c, cell)[::-1], "return `(h_t, c_t)`"),
    (lambda x, h, c, cell: _step(x, h, torch.zeros_like(c), cell), "c_t ignores c_prev"),
    (lambda x, h, c, cell: _step(x, h, c, cell)[0], "should return the pair"),
    (lambda x, h, c, cell: x @ cell.weight_ih, "`x_t @ cell.weight_ih.T`"),
    (lambda x, h, c, cell: (_step(x, h, c, cell)[0].T, c), "h_t: expected shape [2, 4]"),
    (lambda x, h, c, cell: (torch.tanh(x @ cell.weight_ih.T)[:, :4], c), "(h_t, c_t): values"),
])
def test_lstm_step_mistakes(answer, hint):
    assert_hint(check_lstm_step, answer, hint)


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
