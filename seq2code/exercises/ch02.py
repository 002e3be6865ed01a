"""Checks for the exercises of chapter 2 (the vanilla RNN encoder-decoder).

- :func:`check_rnn_parameters`: the parameter count of ``build_model("rnn", ...)`` by hand;
- :func:`check_rnn_step`: one step ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + b)``;
- :func:`check_greedy_decode`: greedy decoding's stopping rule, per row, on a batch;
- :func:`check_masked_loss`: ``-mean log p(y_t)`` over the real target tokens;
- :func:`check_teacher_forcing`: the decoder's loop, gold or own token by each step's coin;
- :func:`check_training_step`: zero_grad, loss, backward, clip, step, in train mode.

:func:`error_cause` names the likely cause of a wrong prediction (the error analysis at the
end of the chapter).
"""

from __future__ import annotations

import numbers

import torch
from torch import nn
from torch.nn import functional as nn_functional

from seq2code.exercises import (
    Hint,
    exercise,
    expect_close,
    expect_tensor,
    fmt_shape,
    ramp_init,
    shape_error_hint,
)
from seq2code.metrics import token_edit_distance
from seq2code.models import build_model, count_parameters
from seq2code.tokens import tokenize_code
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


# --------------------------------------------------------------------------------------
# The masked loss
# --------------------------------------------------------------------------------------

def _loss_case(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``[B, T, V] = [3, 5, 7]`` and ``tgt_out`` ``[B, T]`` with rows of 5, 3 and 2
    real tokens (``<eos>`` last), so that every mistake below changes the loss."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 5, 7, generator=g) * 1.5
    tgt_out = torch.tensor([[4, 5, 6, 4, EOS_ID],
                            [6, 4, EOS_ID, PAD_ID, PAD_ID],
                            [5, EOS_ID, PAD_ID, PAD_ID, PAD_ID]])
    return logits, tgt_out


def _nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``-log softmax(logits)[target]`` per slot: ``[B, T, V]``, ``[B, T]`` -> ``[B, T]``."""
    return -logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def _loss_mistakes(logits: torch.Tensor, tgt_out: torch.Tensor) -> list:
    """What typical wrong losses return on ``(logits, tgt_out)``, with their hints."""
    nll = _nll(logits, tgt_out)  # [B, T]
    real = (tgt_out != PAD_ID).float()  # [B, T]
    n = real.sum()
    flat = nn_functional.cross_entropy
    off_by_one = ("off by one: `logits[:, t]` already scores `tgt_out[:, t]` (the decoder "
                  "read `tgt_in[:, t]` = y_{t-1} and predicted y_t); compare them position "
                  "by position, without shifting again")
    gold = logits.gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)  # [B, T] raw scores
    probs = logits.softmax(-1).gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)
    wrong_axis = -logits.log_softmax(1).gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)
    return [
        (flat(logits.flatten(0, 1), tgt_out.flatten()),
         "the padding is counted: the slots after a row's <eos> hold <pad> (id 0), which "
         "nothing must predict; leave them out (`ignore_index=PAD_ID`, or a mask "
         "`tgt_out != PAD_ID`)"),
        ((nll * real).sum() / tgt_out.numel(),
         "you divide by every slot (B x T), padding included: the mean is over the N real "
         "tokens, so divide by the number of non-<pad> targets"),
        ((nll * real).sum(),
         "that is the sum over the real tokens: the loss is their mean, divide by N"),
        (((nll * real).sum(1) / real.sum(1)).mean(),
         "you averaged per line, then over the lines: every real *token* counts the same, "
         "so divide the sum over all real tokens of the batch by their number N"),
        (flat(logits[:, :-1].flatten(0, 1), tgt_out[:, 1:].flatten(), ignore_index=PAD_ID),
         off_by_one),
        (flat(logits[:, 1:].flatten(0, 1), tgt_out[:, :-1].flatten(), ignore_index=PAD_ID),
         off_by_one),
        (-(gold * real).sum() / n,
         "the logits are not log-probabilities: take `log_softmax` over the vocabulary "
         "first (`cross_entropy` does it for you)"),
        (-(probs * real).sum() / n,
         "take the *log* of the gold token's probability: `log_softmax`, not `softmax`"),
        (-(nll * real).sum() / n,
         "the sign: the loss is minus the log-probability (a positive number)"),
        ((wrong_axis * real).sum() / n,
         "normalise over the vocabulary, the last axis (`dim=-1`), not over the positions"),
        (flat(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=EOS_ID),
         "the padding id is 0 (`PAD_ID`): <eos> (id 2) is a real target, the model must "
         "learn to end the line"),
    ]


@exercise
def check_masked_loss(masked_loss):
    """masked_loss(logits, tgt_out) = -mean log p(y_t) over the real target tokens,
    padding left out."""
    for seed in (0, 1):
        logits, tgt_out = _loss_case(seed)
        logits.requires_grad_(True)
        try:
            loss = masked_loss(logits, tgt_out.clone())
        except (RuntimeError, ValueError) as error:
            if "Expected target size" in str(error):
                raise Hint("`cross_entropy` reads the classes on axis 1: flatten the logits "
                           "to [B T, V] and tgt_out to [B T] (`.flatten(0, 1)`, "
                           "`.flatten()`), or move V to axis 1") from error
            hint = shape_error_hint(error, "logits are [B, T, V] = [3, 5, 7] and tgt_out "
                                    "[B, T] = [3, 5]: the target of logits[b, t] is "
                                    "tgt_out[b, t]")
            if hint:
                raise hint from error
            raise
        if isinstance(loss, numbers.Real):
            raise Hint("you returned a Python number (`.item()`?): return the tensor, "
                       "training calls `loss.backward()` on it")
        loss = expect_tensor(loss, "masked_loss(logits, tgt_out)")
        if loss.numel() != 1 or loss.dim() > 1:
            raise Hint(f"the loss is one number, a 0-d tensor; yours has shape "
                       f"{fmt_shape(loss.shape)}: average over the real tokens")
        expected = nn_functional.cross_entropy(logits.detach().flatten(0, 1),
                                               tgt_out.flatten(), ignore_index=PAD_ID)
        expect_close(loss.reshape(()), expected, "masked_loss(logits, tgt_out)",
                     mistakes=_loss_mistakes(logits.detach(), tgt_out))
        if not loss.requires_grad:
            raise Hint("the loss is cut off from the logits' graph (`detach`, `no_grad` or "
                       "a new tensor?): training needs its gradient")


# --------------------------------------------------------------------------------------
# The loop of teacher forcing
# --------------------------------------------------------------------------------------

FORCED_V = 31  # vocabulary of the scripted decoder: every token below is distinct


def _forced_case(seed: int, B: int = 2, T: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """``tgt_in`` ``[B, T]`` (``<sos>`` then gold tokens) and the scripted predictions
    ``[B, T]``: all tokens of a row distinct, gold and predictions from separate ranges."""
    g = torch.Generator().manual_seed(seed)
    tokens = (torch.randperm(FORCED_V - 4, generator=g) + 4)[: B * (2 * T - 1)]
    gold, predicted = tokens[: B * (T - 1)].view(B, T - 1), tokens[B * (T - 1):].view(B, T)
    tgt_in = torch.cat([torch.full((B, 1), SOS_ID), gold], dim=1)  # [B, T]
    return tgt_in, predicted


class _ForcedStep:
    """A stand-in for the decoder: call ``t`` returns logits ``[B, V]`` whose argmax is
    ``predicted[:, t]``, and records the ids it was fed."""

    def __init__(self, predicted: torch.Tensor):
        self.predicted = predicted
        self.fed: list[torch.Tensor] = []
        self.logits: list[torch.Tensor] = []

    def __call__(self, prev) -> torch.Tensor:
        B, T = self.predicted.shape
        t = len(self.fed)
        if t >= T:
            raise Hint(f"step was called more than T = {T} times: call it once per "
                       "position of tgt_in")
        if prev is None:
            raise Hint(f"at step {t} you passed None to step: pass the ids of the previous "
                       "tokens, shape [B]")
        prev = expect_tensor(prev, "the `prev` you pass to step")
        if tuple(prev.shape) != (B,):
            raise Hint(f"step expects prev of shape [{B}] (one id per row), got "
                       f"{fmt_shape(prev.shape)} at step {t}: take column t of tgt_in, or "
                       "the argmax of the last logits over the vocabulary (`dim=-1`)")
        self.fed.append(prev.detach().long().cpu())
        g = torch.Generator().manual_seed(1000 + t)
        logits = torch.rand(B, FORCED_V, generator=g)  # [B, V] below 1
        logits[torch.arange(B), self.predicted[:, t]] = 2.0 + torch.rand(B, generator=g)
        self.logits.append(logits)
        return logits.clone()


def _fed_kind(fed: torch.Tensor, t: int, tgt_in: torch.Tensor, predicted: torch.Tensor) -> str:
    """What the ids ``fed`` at step ``t`` were: gold, own, or a typical mistake."""
    T = tgt_in.size(1)
    candidates = {"gold": tgt_in[:, t]}
    if t >= 1:
        candidates["own"] = predicted[:, t - 1]
        candidates["gold before"] = tgt_in[:, t - 1]
    if t + 1 < T:
        candidates["gold after"] = tgt_in[:, t + 1]
    if t >= 2:
        candidates["own before"] = predicted[:, t - 2]
    for kind, ids in candidates.items():
        if torch.equal(fed, ids):
            return kind
    return "other"


def _run_forced(decode, coins: torch.Tensor, seed: int) -> None:
    tgt_in, predicted = _forced_case(seed, T=len(coins))
    B, T = tgt_in.shape
    step = _ForcedStep(predicted)
    try:
        result = decode(step, tgt_in.clone(), coins.clone())
    except IndexError as error:
        if not step.fed:
            raise Hint("step 0 has no previous prediction: it always reads tgt_in[:, 0], "
                       "<sos>, whatever coins[0] says") from error
        raise
    if len(step.fed) < T:
        raise Hint(f"step was called {len(step.fed)} time(s), tgt_in has T = {T} positions: "
                   "call it once per position")
    if not torch.equal(step.fed[0], tgt_in[:, 0]):
        raise Hint("step 0 reads tgt_in[:, 0], <sos>, whatever coins[0] says")
    kinds = [_fed_kind(step.fed[t], t, tgt_in, predicted) for t in range(1, T)]
    want = ["gold" if bool(coins[t]) else "own" for t in range(1, T)]
    if kinds != want:
        for t, kind in enumerate(kinds, start=1):
            if kind == "gold before":
                raise Hint(f"off by one: at step {t} you fed tgt_in[:, {t - 1}]; tgt_in "
                           "already starts with <sos>, so step t reads tgt_in[:, t] = "
                           "y_{t-1}")
            if kind == "gold after":
                raise Hint(f"off by one: at step {t} you fed tgt_in[:, {t + 1}], a token the "
                           "decoder must predict; step t reads tgt_in[:, t] = y_{t-1}")
            if kind == "own before":
                raise Hint(f"at step {t} you fed the prediction of step {t - 2}: feed the "
                           "argmax of the previous step's logits, `logits[-1].argmax(-1)`")
            if kind == "other":
                raise Hint(f"at step {t} row 0 read {int(step.fed[t][0])}, neither the gold "
                           f"token tgt_in[0, {t}] = {int(tgt_in[0, t])} nor the previous "
                           f"prediction {int(predicted[0, t - 1])} (the argmax of the last "
                           "logits over the vocabulary)")
        if all(k == "gold" for k in kinds):
            raise Hint("you fed the gold token at every step: where coins[t] is False, "
                       "step t reads the model's own previous prediction")
        if all(k == "own" for k in kinds):
            raise Hint("you fed the model's own prediction at every step: where coins[t] "
                       "is True, step t reads the gold token tgt_in[:, t]")
        if all(k != w for k, w in zip(kinds, want, strict=True)):
            raise Hint("gold and own are swapped: coins[t] True means step t reads the gold "
                       "token tgt_in[:, t], False the model's own previous prediction")
        shifted = ["gold" if bool(coins[t - 1]) else "own" for t in range(1, T)]
        if kinds == shifted:
            raise Hint("step t follows coins[t - 1]: use coins[t], the coin of step t")
        t = next(t for t, (k, w) in enumerate(zip(kinds, want, strict=True), start=1)
                 if k != w)
        raise Hint(f"at step {t} coins[{t}] is {bool(coins[t])} but you fed the "
                   f"{'gold token' if kinds[t - 1] == 'gold' else 'own prediction'}: use "
                   "the coins you are given (do not draw new ones); coins[t] True means "
                   "gold, False the model's own previous prediction")
    expected = torch.stack(step.logits, dim=1)  # [B, T, V]
    if isinstance(result, (list, tuple)) and result and isinstance(result[0], torch.Tensor):
        raise Hint("you returned a list of per-step logits: stack them into one [B, T, V] "
                   "tensor, `torch.stack(logits, dim=1)`")
    expect_close(result, expected, "your result", mistakes=[
        (torch.stack(step.logits, dim=0),
         "your result is [T, B, V]: stack the steps along dim=1, one row per example"),
    ])


@exercise
def check_teacher_forcing(decode_with_teacher_forcing):
    """Step t reads the gold tgt_in[:, t] where coins[t] is True and the previous step's
    argmax where it is False; step 0 always reads <sos>; the logits come back [B, T, V]."""
    _run_forced(decode_with_teacher_forcing,
                torch.tensor([True, True, False, True, False, False]), seed=0)
    _run_forced(decode_with_teacher_forcing,
                torch.tensor([False, False, True, False, True, True]), seed=1)
    _run_forced(decode_with_teacher_forcing,
                torch.tensor([True, False, False, True, True, False, True]), seed=2)


# --------------------------------------------------------------------------------------
# The training step
# --------------------------------------------------------------------------------------

TRAIN_CLIP = 1.0


class _TinyModel(nn.Module):
    """A stand-in for ``Seq2Seq`` with dropout: ``loss(src, src_lens, tgt_in, tgt_out)``
    returns a scalar loss (scaled so that its gradient's norm is well above 1) and records
    how often it was called, in which mode, what it returned, and how many backward passes
    went through those losses."""

    def __init__(self, vocab: int = 7, dim: int = 6):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.dropout = nn.Dropout(0.5)
        self.out = nn.Linear(dim, vocab)
        self.modes: list[bool] = []  # the mode at each call of loss
        self.returned: list[float] = []  # the loss each call returned
        self.backwards = 0  # backward passes through a loss it returned

    def loss(self, src, src_lens, tgt_in, tgt_out, **options) -> torch.Tensor:
        self.modes.append(self.training)
        x = self.dropout(self.embedding(src).mean(dim=1))  # [B, D]
        logits = self.out(x)  # [B, V]
        loss = 8.0 * nn_functional.cross_entropy(logits, tgt_out[:, 0])
        self.returned.append(float(loss.detach()))
        loss.register_hook(self._count_backward)  # runs when backward reaches the loss
        return loss

    def _count_backward(self, grad: torch.Tensor) -> None:
        self.backwards += 1

    def forward(self, *args, **kwargs):
        raise Hint("call `model.loss(batch.src, batch.src_lens, batch.tgt_in, "
                   "batch.tgt_out)`: it runs the model and returns the batch's loss")


def _tiny_batch():
    from seq2code.batching import collate

    pairs = [([4, 5, 6], [SOS_ID, 4, 6, EOS_ID]), ([6, 4], [SOS_ID, 5, EOS_ID]),
             ([5, 5, 4, 6], [SOS_ID, 6, 4, 5, EOS_ID])]
    return collate(pairs, range(len(pairs)))


def _step_in_order(order: tuple[str, ...]):
    """A training step doing ``order``'s operations (the right one and typical mistakes)."""
    def step(model, optimizer, batch):
        loss = None
        for op in order:
            if op == "train":
                model.train()
            elif op == "zero":
                optimizer.zero_grad()
            elif op == "loss":
                loss = model.loss(batch.src, batch.src_lens, batch.tgt_in, batch.tgt_out)
            elif op == "backward":
                loss.backward()
            elif op == "clip":
                nn.utils.clip_grad_norm_(model.parameters(), TRAIN_CLIP)
            elif op == "step":
                optimizer.step()
        return loss.item()
    return step


RIGHT_ORDER = ("train", "zero", "loss", "backward", "clip", "step")
STEP_CALLS = 2  # the second call shows gradients left over from the first


def _train_run(training_step, calls: int = STEP_CALLS):
    """Train a fresh tiny model (in eval mode, as after an evaluation) with ``calls`` calls
    of ``training_step`` and plain SGD; return the model, what each call returned, the
    weights and the gradients after each call. Dropout draws from a seed per call."""
    model = ramp_init(_TinyModel())
    model.eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    batch = _tiny_batch()
    results, weights, grads = [], [], []
    for call in range(calls):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(100 + call)
            results.append(training_step(model, optimizer, batch))
        weights.append([p.detach().clone() for p in model.parameters()])
        grads.append([None if p.grad is None else p.grad.detach().clone()
                      for p in model.parameters()])
    return model, results, weights, grads


def _same_weights(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.allclose(x, y, atol=1e-6, rtol=1e-5) for x, y in zip(a, b, strict=True))


def _grad_norm(grads: list[torch.Tensor | None]) -> float:
    present = [g for g in grads if g is not None]
    return float(torch.linalg.vector_norm(torch.stack([g.norm() for g in present]))) \
        if present else 0.0


STEP_MISTAKES = [  # (order, hint), compared by the weights after each call
    (("train", "loss", "backward", "clip", "step"),
     "the gradients of the previous step were still in `.grad`, and `backward` adds to "
     "them: start each step with `optimizer.zero_grad()`"),
    (("train", "zero", "loss", "backward", "step"), None),  # no clipping, or after step
]


@exercise
def check_training_step(training_step):
    """One step: train mode, zero_grad, the loss, backward, clipping at norm 1.0, the
    optimizer's step; the loss is returned."""
    model, results, weights, grads = _train_run(training_step)
    if len(model.modes) < STEP_CALLS:
        raise Hint("compute the loss with `model.loss(batch.src, batch.src_lens, "
                   "batch.tgt_in, batch.tgt_out)`, once per step")
    if len(model.modes) > STEP_CALLS:
        raise Hint(f"{len(model.modes)} calls of model.loss in {STEP_CALLS} steps: compute the "
                   "loss once per step and use that tensor for `backward` and the result")
    if not all(model.modes):
        raise Hint("the model was in eval mode during the loss (as an evaluation leaves "
                   "it): dropout was off. Call `model.train()` at the start of the step")
    if model.backwards < STEP_CALLS:
        raise Hint("call `loss.backward()` to compute the gradients before "
                   "`optimizer.step()`")
    if model.backwards > STEP_CALLS:
        raise Hint(f"{model.backwards} backward passes in {STEP_CALLS} steps: call "
                   "`loss.backward()` once per step")
    for call, result in enumerate(results):
        if result is None:
            raise Hint("return the loss (`loss.item()`, or the tensor)")
        if isinstance(result, torch.Tensor):
            if result.numel() != 1:
                raise Hint(f"return the loss, one number; got shape {fmt_shape(result.shape)}")
            result = result.item()
        if not isinstance(result, numbers.Real) or \
                abs(float(result) - model.returned[call]) > 1e-5 * max(1.0, abs(result)):
            raise Hint(f"step {call + 1} returned {result!r}, but model.loss gave "
                       f"{model.returned[call]:.4f}: return the loss of the batch")
    _, _, right, _ = _train_run(_step_in_order(RIGHT_ORDER))
    initial = [p.detach() for p in ramp_init(_TinyModel()).parameters()]
    for call in range(STEP_CALLS):
        if _same_weights(weights[call], right[call]):
            continue
        before = initial if call == 0 else weights[call - 1]
        if _same_weights(weights[call], before):  # the weights did not move
            if _grad_norm(grads[call]) == 0.0:
                raise Hint("the weights did not move and the gradients are gone: "
                           "`zero_grad` after `backward` wipes the gradients just computed; "
                           "call it at the start of the step, before the loss")
            raise Hint(f"step {call + 1} did not change the weights: `optimizer.step()` is "
                       "what changes them, after clipping")
        for order, hint in STEP_MISTAKES:
            _, _, wrong, _ = _train_run(_step_in_order(order))
            if not _same_weights(weights[call], wrong[call]):
                continue
            if hint is None:  # unclipped step: no clipping at all, or clipping after step
                if _grad_norm(grads[call]) <= TRAIN_CLIP + 1e-4:
                    hint = ("you clipped after `optimizer.step()`: the step had already "
                            "used the unclipped gradient. Clip between `backward` and "
                            "`step`")
                else:
                    hint = ("the step used the unclipped gradient (its norm is "
                            f"{_grad_norm(grads[call]):.1f}): call `nn.utils."
                            "clip_grad_norm_(model.parameters(), 1.0)` between `backward` "
                            "and `step`")
            raise Hint(hint)
        raise Hint(f"after step {call + 1} the weights differ from those of zero_grad, loss, "
                   "backward, clip_grad_norm_(..., 1.0), step with the optimizer given "
                   "(do not make a new one; clip the gradient's norm, at 1.0)")


# --------------------------------------------------------------------------------------
# Error analysis: the likely cause of a wrong line
# --------------------------------------------------------------------------------------

ERROR_CAUSES = {  # cause -> what it means, in the order error_cause tries them
    "token split": "the same code, its tokens split differently (it reads as the reference "
                   "once written out)",
    "unknown token": "the reference holds a code token that the model's vocabulary lacks "
                     "(a rare name or literal): it cannot be written",
    "too long": "the reference has more tokens than the decoder may write",
    "near miss": "one token wrong, missing or extra",
    "stops early": "the prediction is the start of the reference: it ends too soon",
    "repeats": "the prediction loops, a token or a short group of tokens three times in a "
               "row (not in the reference)",
    "wrong start": "wrong from the first token",
    "drifts": "starts right, then goes astray",
}


def _loops(tokens: list[str]) -> set[tuple[str, ...]]:
    """The groups of 1 to 3 tokens that ``tokens`` holds three times in a row."""
    found = set()
    for n in (1, 2, 3):
        for i in range(len(tokens) - 3 * n + 1):
            group = tuple(tokens[i:i + n])
            if tuple(tokens[i + n:i + 2 * n]) == group == tuple(tokens[i + 2 * n:i + 3 * n]):
                found.add(group)
    return found


def error_cause(reference: str, prediction: str, vocab, max_len: int | None = None) -> str:
    """The first cause of :data:`ERROR_CAUSES` that explains why ``prediction`` is not
    ``reference`` (two code lines); ``vocab`` is the model's code vocabulary (anything with
    ``in``), ``max_len`` the most tokens the decoder writes (``<eos>`` not counted).

    A prediction whose tokens differ from the reference's only in how they are split (so
    that the two lines read alike once written out) is a "token split"."""
    ref, hyp = tokenize_code(reference), tokenize_code(prediction)
    if hyp == ref:  # wrong as tokens, right once written out and read again
        return "token split"
    if any(token not in vocab for token in ref):
        return "unknown token"
    if max_len is not None and len(ref) > max_len:
        return "too long"
    if token_edit_distance(ref, hyp) == 1:
        return "near miss"
    if len(hyp) < len(ref) and ref[:len(hyp)] == hyp:
        return "stops early"
    if _loops(hyp) - _loops(ref):
        return "repeats"
    if not hyp or hyp[0] != ref[0]:
        return "wrong start"
    return "drifts"
