"""Checks for the exercises of chapter 2 (the vanilla RNN encoder-decoder).

- :func:`check_rnn_parameters`: the parameter count of ``build_model("rnn", ...)`` by hand;
- :func:`check_rnn_step`: one step ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + b)``;
- :func:`check_greedy_decode`: greedy decoding's stopping rule, per row, on a batch.
"""

from __future__ import annotations

import numbers

import torch

from seq2code.exercises import (
    Hint,
    exercise,
    expect_close,
    expect_tensor,
    fmt_shape,
    shape_error_hint,
)
from seq2code.models import build_model, count_parameters
from seq2code.vocab import EOS_ID, PAD_ID, SOS_ID


def as_count(value, what: str = "your function") -> int:
    """``value`` as an int if it is a whole number (int, integral float, 0-d tensor)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if value is None:
        raise Hint(f"{what} returned None: did you forget to `return` the count?")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise Hint(f"{what} should return a number, got {type(value).__name__}")
    if float(value) != int(value):
        raise Hint(f"{what} returned {value}: a parameter count is a whole number")
    return int(value)


RNN_ADVICE = ("count the two embeddings, the two recurrent layers (input weights, recurrent "
              "weights, two biases) and the output layer")


def diagnose_count(got: int, expected: int, mistakes: dict[int, str], sizes: str,
                   advice: str = RNN_ADVICE) -> None:
    """Raise the hint of the mistake whose difference ``got - expected`` matches, else one
    that gives both counts and ``advice`` (what to count)."""
    difference = got - expected
    if difference in mistakes:
        raise Hint(mistakes[difference])
    raise Hint(f"for {sizes} your formula gives {got:,}, the model has {expected:,} "
               f"({difference:+,}): {advice}")


# The first sizes are chosen so that every mistake below changes the count differently.
PARAMETER_CASES = [(9, 7, 5, 3), (13, 17, 6, 10), (60, 60, 128, 256)]


def _rnn_mistakes(v_src: int, v_tgt: int, e: int, h: int, gates: int = 1) -> dict[int, str]:
    """Differences (yours - right) of typical counting mistakes, with their hints.

    ``gates`` is 1 for a tanh RNN and 4 for an LSTM (one block of weights per gate).
    """
    layer = gates * (h * e + h * h + 2 * h)
    mistakes = {
        -2 * gates * h: "PyTorch keeps two bias vectors per recurrent layer, b_ih and b_hh: "
                        "count both, in the encoder and in the decoder",
        -gates * h: "one of your two recurrent layers counts a single bias; PyTorch keeps "
                    "two (b_ih and b_hh)",
        -4 * gates * h: "you left out the recurrent layers' biases (b_ih and b_hh, in both "
                        "layers)",
        -v_tgt: "you left out the output layer's bias (V_tgt entries)",
        -(h * v_tgt): "you left out the output layer's weight W_o (H x V_tgt)",
        -(h * v_tgt + v_tgt): "you left out the output layer (W_o: H x V_tgt, and its bias)",
        -(v_src * e): "you left out the English embedding (V_src x E)",
        -(v_tgt * e): "you left out the code embedding (V_tgt x E)",
        -layer: "you counted one recurrent layer; the encoder and the decoder each have one",
        -2 * gates * h * h: "you left out the recurrent weights W_hh (H x H in each layer)",
        -gates * h * h: "one of your layers lacks its recurrent weight W_hh (H x H)",
        (v_src - v_tgt) * (h + 1): "the output layer scores the *code* vocabulary: "
                                   "H x V_tgt + V_tgt, not V_src",
        (e - h) * v_tgt: "the output layer reads the decoder state h_t (size H), not the "
                         "embedding (size E)",
        (v_src + v_tgt) * (h - e): "the embeddings have E columns, not H",
    }
    if gates == 4:
        mistakes[-3 * (layer // 4) * 2] = ("an LSTM layer has four blocks of weights (gates "
                                           "i, f, g, o), each the size of an RNN layer's: "
                                           "multiply the recurrent part by 4")
    return mistakes


def check_count_formula(formula, kind: str, cases, mistakes, advice: str) -> str:
    """Compare ``formula(V_src, V_tgt, E, H)`` with ``count_parameters(build_model(kind, ...))``
    on each of ``cases`` (``(V_src, V_tgt, E, H)`` tuples, the course's sizes last); raise the
    hint of the first mistake found (``mistakes(V_src, V_tgt, E, H)`` maps differences to
    hints, ``advice`` says what to count otherwise)."""
    for i, (v_src, v_tgt, e, h) in enumerate(cases):
        expected = count_parameters(build_model(kind, v_src, v_tgt, emb_dim=e, hidden_dim=h))
        got = as_count(formula(v_src, v_tgt, e, h))
        if got == expected:
            continue
        sizes = f"V_src={v_src}, V_tgt={v_tgt}, E={e}, H={h}"
        if i > 0:
            raise Hint(f"right for the first sizes but not for {sizes} ({got:,} instead of "
                       f"{expected:,}): is a size hard-coded or are two arguments mixed up?")
        diagnose_count(got, expected, mistakes(v_src, v_tgt, e, h), sizes, advice)
    v_src, v_tgt, e, h = cases[-1]
    return (f"{as_count(formula(v_src, v_tgt, e, h)):,} parameters at V_src = V_tgt = {v_src}, "
            f"E = {e}, H = {h}, as count_parameters says")


def check_parameter_formula(formula, kind: str, gates: int) -> str:
    """:func:`check_count_formula` for the RNN (``gates`` 1) or the LSTM (``gates`` 4)."""
    return check_count_formula(formula, kind, PARAMETER_CASES,
                               lambda *sizes: _rnn_mistakes(*sizes, gates), RNN_ADVICE)


@exercise
def check_rnn_parameters(rnn_parameters):
    """The formula agrees with count_parameters(build_model("rnn", ...))."""
    return check_parameter_formula(rnn_parameters, "rnn", gates=1)


def _rnn_case(seed: int, b: int = 2, e: int = 3, h: int = 4):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, e, generator=g), torch.randn(b, h, generator=g),
            torch.randn(h, e, generator=g) * 0.7, torch.randn(h, h, generator=g) * 0.7,
            torch.randn(h, generator=g) * 0.5)


@exercise
def check_rnn_step(rnn_step):
    """h_t = tanh(W_xh x_t + W_hh h_{t-1} + b), for a whole batch."""
    for seed in (0, 1):
        x, h_prev, W_xh, W_hh, b = _rnn_case(seed)
        try:
            h_t = rnn_step(x.clone(), h_prev.clone(), W_xh.clone(), W_hh.clone(), b.clone())
        except RuntimeError as error:
            hint = shape_error_hint(error, "x_t is [B, E] = [2, 3] and W_xh is [H, E] = [4, 3]; "
                                "a batch of row vectors is multiplied by the transpose, "
                                "`x_t @ W_xh.T`")
            if hint:
                raise hint from error
            raise
        xw, hw = x @ W_xh.T, h_prev @ W_hh.T
        expect_close(h_t, torch.tanh(xw + hw + b), "h_t", mistakes=[
            (xw + hw + b, "h_t is not squashed: apply tanh to the sum"),
            (torch.sigmoid(xw + hw + b), "the vanilla RNN squashes with tanh, not sigmoid"),
            (torch.relu(xw + hw + b), "the vanilla RNN squashes with tanh, not relu"),
            (torch.tanh(xw + h_prev @ W_hh + b), "W_hh is used untransposed: with h_{t-1} "
             "as rows [B, H], multiply by `W_hh.T`"),
            (torch.tanh(xw + hw), "you forgot the bias b"),
            (torch.tanh(xw + b), "h_t ignores h_{t-1}: the state must be carried, add "
             "W_hh h_{t-1}"),
            (torch.tanh(xw) + hw + b, "apply tanh to the whole sum, not to W_xh x_t alone"),
            (torch.tanh(h_prev @ W_hh.T + b), "h_t ignores the input x_t"),
        ])


class _ScriptedStep:
    """A stand-in for the decoder: at step ``t`` row ``b`` predicts ``scripts[b][t]``.

    It checks what it is fed: ``prev`` ``[B]``, ``<sos>`` first, then each unfinished row's
    own previous prediction.
    """

    def __init__(self, scripts: list[list[int]], vocab_size: int = 12):
        self.scripts = scripts
        self.vocab_size = vocab_size
        self.calls = 0
        eos_at = [row.index(EOS_ID) if EOS_ID in row else len(row) for row in scripts]
        self.eos_at = eos_at  # the step (from 0) at which each row writes <eos>

    def __call__(self, prev) -> torch.Tensor:
        t = self.calls
        batch = len(self.scripts)
        prev = expect_tensor(prev, "the `prev` you pass to step")
        if tuple(prev.shape) != (batch,):
            raise Hint(f"step expects prev of shape [{batch}] (one id per row), got "
                       f"{fmt_shape(prev.shape)}: the logits are [B, V], take `argmax(dim=-1)`")
        for b in range(batch):
            if t > self.eos_at[b]:  # finished rows may read anything
                continue
            want = SOS_ID if t == 0 else self.scripts[b][t - 1]
            if int(prev[b]) != want:
                if t == 0:
                    raise Hint("the first step must read <sos> (id 1) in every row")
                raise Hint(f"at step {t + 1}, row {b} read {int(prev[b])} but predicted "
                           f"{want} at step {t}: feed back each step's prediction as the "
                           "next input")
        self.calls += 1
        logits = torch.linspace(0, 1, self.vocab_size).repeat(batch, 1)  # [B, V]
        for b in range(batch):
            token = self.scripts[b][t] if t < len(self.scripts[b]) else 4
            logits[b, token] = 5.0
        return logits


def _expected(scripts: list[list[int]], max_len: int) -> torch.Tensor:
    steps = min(max_len, max(row.index(EOS_ID) + 1 if EOS_ID in row[:max_len] else max_len
                             for row in scripts))
    out = torch.full((len(scripts), steps), PAD_ID, dtype=torch.long)
    for b, row in enumerate(scripts):
        n = min(steps, row.index(EOS_ID) + 1 if EOS_ID in row else steps)
        out[b, :n] = torch.tensor(row[:n])
    return out


def _run_greedy(greedy_decode, scripts: list[list[int]], max_len: int) -> None:
    step = _ScriptedStep(scripts)
    try:
        result = greedy_decode(step, len(scripts), max_len)
    except RuntimeError as error:
        hint = shape_error_hint(error, f"the logits from step are [B, V] = [{len(scripts)}, "
                            f"{step.vocab_size}]; each row's next token is "
                            "`logits.argmax(dim=-1)`, shape [B]")
        if hint:
            raise hint from error
        raise
    expected = _expected(scripts, max_len)
    n = expected.size(1)
    if isinstance(result, (list, tuple)) and result and isinstance(result[0], torch.Tensor):
        raise Hint("you returned a list of per-step tensors: stack them into one [B, steps] "
                   "tensor, `torch.stack(outputs, dim=1)`")
    result = expect_tensor(result, "your result")
    if result.dim() == 2 and result.size(0) == n and result.size(1) == len(scripts) \
            and result.size(0) != result.size(1):
        raise Hint(f"your result is {fmt_shape(result.shape)}: it must be [B, steps] = "
                   f"{fmt_shape(expected.shape)}, one row per example (`torch.stack(..., "
                   "dim=1)`)")
    if result.dim() != 2 or result.size(0) != len(scripts):
        raise Hint(f"return a [B, steps] tensor of ids, here {fmt_shape(expected.shape)}; "
                   f"got {fmt_shape(result.shape)}")
    steps = result.size(1)
    if steps > max_len:
        raise Hint(f"{steps} steps with max_len={max_len}: decode at most max_len steps")
    if steps < n:
        raise Hint(f"your loop stopped after {steps} step(s), while a row had not finished: "
                   "a row that writes <eos> early must not stop the others; stop when "
                   "*every* row has finished (`finished.all()`) or after max_len steps")
    if steps > n:
        raise Hint(f"every row had written <eos> after {n} steps, but your loop went on "
                   f"for {steps}: stop as soon as every row has finished")
    for b, row in enumerate(expected.tolist()):
        got = result[b].tolist()
        if EOS_ID in row:
            k = row.index(EOS_ID)
            if got[:k] == row[:k] and got[k] != EOS_ID:
                raise Hint(f"row {b} lost its <eos>: keep the <eos> a row writes, pad only "
                           "the steps *after* it (update `finished` after padding)")
            if got[:k + 1] == row[:k + 1] and got[k + 1:] != row[k + 1:]:
                raise Hint(f"row {b} goes on after its <eos> ({got}): once a row has "
                           "finished, its later positions must be <pad> (id 0)")
    expect_close(result, expected, "your result")


@exercise
def check_greedy_decode(greedy_decode):
    """Each row stops at its own <eos> and is padded after it; the loop ends when every
    row has finished, or after max_len steps."""
    # Rows finish at steps 3, 5 and 1; every row has finished after 5 of the 8 steps allowed.
    _run_greedy(greedy_decode, [[5, 6, EOS_ID, 7, 7, 7, 7, 7],
                                [8, 9, 10, 11, EOS_ID, 5, 5, 5],
                                [EOS_ID, 4, 4, 4, 4, 4, 4, 4]], max_len=8)
    # The second row never writes <eos>: decoding stops after max_len = 4 steps.
    _run_greedy(greedy_decode, [[5, EOS_ID, 7, 7, 7, 7], [6, 6, 6, 6, 6, 6]], max_len=4)
