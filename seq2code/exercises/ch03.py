"""Checks for the exercises of chapter 3 (the LSTM encoder-decoder).

- :func:`check_lstm_parameters`: the parameter count of ``build_model("lstm", ...)`` by hand;
- :func:`check_lstm_step`: one LSTM step from raw weight tensors laid out as an
  ``nn.LSTMCell``'s (``W_ih``, ``W_hh``, ``b_ih``, ``b_hh``);
- :func:`check_run_lstm`: an LSTM over a padded batch, carrying ``(h, c)`` (PyTorch's names:
  ``c`` is the cell m) across steps and holding it still over padding.
"""

from __future__ import annotations

import torch
from torch import nn

from seq2code.exercises import (
    Hint,
    exercise,
    expect_close,
    expect_shape,
    ramp_init,
    shape_error_hint,
)
from seq2code.exercises.ch01 import watching
from seq2code.exercises.ch02 import PARAMETER_CASES, as_count, check_parameter_formula
from seq2code.models import build_model, count_parameters

# Mistakes whose difference (yours - right) on the first sizes equals another mistake's
# (there -12 H = -4 H^2, "one layer lacks W_hh"): recognised only when the difference
# agrees on every size. Difference per H -> hint.
_BIAS_MISTAKES = {
    -12: "you counted the biases outside the x4: each of the four gates i, f, g, o has its "
         "own two bias vectors (b_ih and b_hh are 4H long, one H-block per gate, like the "
         "rows of W_ih and W_hh), so the biases belong inside the x4",
    -14: "you counted one bias per layer, outside the x4: PyTorch keeps two bias vectors, "
         "b_ih and b_hh, and each gate i, f, g, o has its own H-block of both (4H each)",
}


@exercise
def check_lstm_parameters(lstm_parameters):
    """The formula agrees with count_parameters(build_model("lstm", ...))."""
    differences = []
    for v_src, v_tgt, e, h in PARAMETER_CASES:
        expected = count_parameters(build_model("lstm", v_src, v_tgt, emb_dim=e, hidden_dim=h))
        got = as_count(lstm_parameters(v_src, v_tgt, e, h))
        differences.append((got - expected) / h)
    for per_h, hint in _BIAS_MISTAKES.items():
        if all(d == per_h for d in differences):
            raise Hint(hint)
    return check_parameter_formula(lstm_parameters, "lstm", gates=4)


def _cell(e: int, h: int) -> nn.LSTMCell:
    return ramp_init(nn.LSTMCell(e, h), scale=0.8)


def _weights(cell: nn.LSTMCell) -> tuple[torch.Tensor, ...]:
    """``(W_ih, W_hh, b_ih, b_hh)`` of ``cell``, detached copies: what the student gets."""
    return tuple(p.detach().clone() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih,
                                               cell.bias_hh))


def _step(x, h, c, W_ih, W_hh, b_ih, b_hh, order: str = "ifgo", g_act=torch.tanh,
          h_tanh: bool = True, use_i: bool = True, use_f: bool = True,
          bias_ih: bool = True, bias_hh: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step, right by default; each keyword argument reproduces one typical
    mistake."""
    pre = x @ W_ih.T + h @ W_hh.T  # [B, 4H]
    if bias_ih:
        pre = pre + b_ih
    if bias_hh:
        pre = pre + b_hh
    blocks = dict(zip(order, pre.chunk(4, dim=-1), strict=True))
    i, f, o = (torch.sigmoid(blocks[k]) for k in "ifo")
    g = g_act(blocks["g"])
    c_t = (f * c if use_f else c) + (i * g if use_i else g)
    h_t = o * torch.tanh(c_t) if h_tanh else o * c_t
    return h_t, c_t


def _pair(result, what: str = "your function") -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Hint(f"{what} should return the pair `(h_t, c_t)`")
    return result[0], result[1]


@exercise
def check_lstm_step(lstm_step):
    """h_t and c_t (the cell m_t, in PyTorch's name) agree with nn.LSTMCell on the same
    weights."""
    b, e, h = 2, 3, 4
    cell = _cell(e, h)
    weights = _weights(cell)
    g = torch.Generator().manual_seed(0)
    x, h_prev, c_prev = (torch.randn(b, n, generator=g) for n in (e, h, h))
    with torch.no_grad():
        good_h, good_c = cell(x, (h_prev, c_prev))
        torch.testing.assert_close(_step(x, h_prev, c_prev, *weights), (good_h, good_c))
        try:
            with watching(nn.LSTMCell.forward, nn.LSTM.forward, torch.lstm_cell) as called:
                result = lstm_step(x.clone(), h_prev.clone(), c_prev.clone(),
                                   *(w.clone() for w in weights))
        except RuntimeError as error:
            hint = shape_error_hint(error, "x_t is [B, E] = [2, 3] and W_ih is [4H, E] = "
                                "[16, 3]: multiply by its transpose, `x_t @ W_ih.T` (and "
                                "h_prev by `W_hh.T`)")
            if hint:
                raise hint from error
            raise
        if called:
            raise Hint("your function runs PyTorch's own LSTM (`nn.LSTMCell`, `nn.LSTM` or "
                       "`torch.lstm_cell`): compute the step yourself from W_ih, W_hh, b_ih "
                       "and b_hh, with the equations of section 3.1")
        h_t, c_t = _pair(result)
        expect_shape(h_t, (b, h), "h_t")
        expect_shape(c_t, (b, h), "c_t")

        def variant(**mistake):
            return torch.stack(_step(x, h_prev, c_prev, *weights, **mistake))

        order_hint = ("PyTorch stacks the four gates in the order i, f, g, o (input, forget, "
                      "candidate, output): cut the [B, 4H] pre-activations in that order")
        expect_close(torch.stack([h_t, c_t]), torch.stack([good_h, good_c]), "(h_t, c_t)",
                     mistakes=[
            (torch.stack([good_c, good_h]), "you returned (c_t, h_t): return `(h_t, c_t)`"),
            (variant(order="ifog"), order_hint),
            (variant(order="figo"), order_hint),
            (variant(order="fiog"), order_hint),
            (variant(order="iofg"), order_hint),
            (variant(g_act=torch.sigmoid), "the candidate g_t uses tanh, not sigmoid"),
            (variant(h_tanh=False), "h_t = o_t * tanh(m_t), m_t being your "
             "c_t: you forgot the tanh of the cell"),
            (variant(use_i=False), "m_t = f_t * m_{t-1} + i_t * g_t (your c_t and c_prev): "
             "the input gate i_t must scale the candidate"),
            (variant(use_f=False), "m_t = f_t * m_{t-1} + i_t * g_t (your c_t and c_prev): "
             "the forget gate f_t must scale the old cell"),
            (variant(bias_hh=False), "you forgot `b_hh`: PyTorch adds two biases, b_ih and "
             "b_hh"),
            (variant(bias_ih=False), "you forgot `b_ih`: PyTorch adds two biases, b_ih and "
             "b_hh"),
            (variant(bias_ih=False, bias_hh=False), "you forgot the biases: add both b_ih "
             "and b_hh to the pre-activations"),
            (torch.stack(_step(x, h_prev, torch.zeros_like(c_prev), *weights)),
             "c_t ignores c_prev: the old cell must be carried, `f_t * c_prev`"),
        ])


def _run(xs, lengths, cell: nn.LSTMCell, carry_h: bool = True, carry_c: bool = True,
         hold_padding: bool = True, zero_padding: bool = True):
    """The LSTM over a padded batch; each argument reproduces one typical mistake."""
    batch, steps, _ = xs.shape
    h = xs.new_zeros(batch, cell.hidden_size)  # [B, H]  h_0
    c = xs.new_zeros(batch, cell.hidden_size)  # [B, H]  m_0 (PyTorch's c_0)
    outputs = []
    for t in range(steps):
        h_in = h if carry_h else torch.zeros_like(h)
        c_in = c if carry_c else torch.zeros_like(c)
        h_new, c_new = cell(xs[:, t], (h_in, c_in))
        real = (t < lengths).unsqueeze(1)  # [B, 1]
        h = torch.where(real, h_new, h) if hold_padding else h_new
        c = torch.where(real, c_new, c) if hold_padding else c_new
        outputs.append(h * real if zero_padding else h)
    return torch.stack(outputs, dim=1), h, c


def _flat(outputs, h, c) -> torch.Tensor:
    return torch.cat([outputs.flatten(), h.flatten(), c.flatten()])


@exercise
def check_run_lstm(run_lstm):
    """(h, c) is carried from step to step, held still over padding; outputs are 0 there."""
    b, s, e, h = 3, 4, 3, 2
    cell = _cell(e, h)
    g = torch.Generator().manual_seed(1)
    xs = torch.randn(b, s, e, generator=g)
    lengths = torch.tensor([4, 2, 3])
    with torch.no_grad():
        result = run_lstm(xs.clone(), lengths.clone(), cell)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise Hint("return `outputs, (h, c)`")
        outputs, (h_last, c_last) = result[0], _pair(result[1], "the second thing you return")
        expect_shape(outputs, (b, s, h), "outputs")
        expect_shape(h_last, (b, h), "h")
        expect_shape(c_last, (b, h), "c")
        good = _run(xs, lengths, cell)
        theirs = _flat(outputs, h_last, c_last)

        def variant(**mistake):
            return _flat(*_run(xs, lengths, cell, **mistake))

        expect_close(theirs, _flat(*good), "(outputs, h, c)", mistakes=[
            (variant(carry_h=False, carry_c=False), "the state is not carried: each step "
             "must start from the previous step's (h, c), not from zeros"),
            (variant(carry_c=False), "the cell c is not carried: pass the previous step's c "
             "along with its h"),
            (variant(carry_h=False), "h is not carried: pass the previous step's h along "
             "with its c"),
            (variant(hold_padding=False), "padding changed the state: row 1 has length 2, so "
             "its final (h, c) is the state after its 2nd token; keep (h, c) where the "
             "position is padding (`torch.where` with the mask)"),
            (variant(hold_padding=False, zero_padding=False), "padding changed the state and "
             "the outputs: keep (h, c) unchanged over padded positions and give them output 0"),
            (variant(zero_padding=False), "outputs at padded positions must be 0 (as the "
             "library's encoder returns them); the final state is right"),
        ])
