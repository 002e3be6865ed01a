"""Chapter 2's exercise checks: the notebook's solutions pass, typical mistakes get their hint."""

import pytest
import torch
from test_exercises import assert_hint, chapter_tests, notebook_solution, verdict
from torch import nn
from torch.nn import functional as F

from seq2code.exercises import CORRECT
from seq2code.exercises.ch02 import (
    ERROR_CAUSES,
    PARAMETER_CASES,
    _rnn_mistakes,
    check_greedy_decode,
    check_masked_loss,
    check_rnn_parameters,
    check_rnn_step,
    check_teacher_forcing,
    check_training_step,
    error_cause,
)

CHAPTER = "02_rnn"
CHECKS = [(check_rnn_parameters, "rnn_parameters"), (check_rnn_step, "rnn_step"),
          (check_greedy_decode, "greedy_decode"), (check_masked_loss, "masked_loss"),
          (check_teacher_forcing, "decode_with_teacher_forcing"),
          (check_training_step, "training_step")]


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


# --------------------------------------------------------------------------------------
# The masked loss
# --------------------------------------------------------------------------------------

def _nll(logits, tgt):
    return -logits.log_softmax(-1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)  # [B, T]


def _flat(logits, tgt, **options):
    return F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), **options)


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda lg, y: _flat(lg, y), "the padding is counted"),
    (lambda lg, y: (_nll(lg, y) * (y != 0)).sum() / y.numel(), "divide by every slot"),
    (lambda lg, y: (_nll(lg, y) * (y != 0)).sum(), "the sum over the real tokens"),
    (lambda lg, y: ((_nll(lg, y) * (y != 0)).sum(1) / (y != 0).sum(1)).mean(),
     "averaged per line"),
    (lambda lg, y: _flat(lg[:, :-1], y[:, 1:], ignore_index=0), "off by one"),
    (lambda lg, y: _flat(lg[:, 1:], y[:, :-1], ignore_index=0), "off by one"),
    (lambda lg, y: -(lg.gather(-1, y.unsqueeze(-1)).squeeze(-1) * (y != 0)).sum()
     / (y != 0).sum(), "not log-probabilities"),
    (lambda lg, y: -(lg.softmax(-1).gather(-1, y.unsqueeze(-1)).squeeze(-1) * (y != 0)).sum()
     / (y != 0).sum(), "`log_softmax`, not `softmax`"),
    (lambda lg, y: -_flat(lg, y, ignore_index=0), "the sign"),
    (lambda lg, y: -(lg.log_softmax(1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
                     * (y != 0)).sum() / (y != 0).sum(), "the last axis"),
    (lambda lg, y: _flat(lg, y, ignore_index=2), "the padding id is 0"),
    (lambda lg, y: F.cross_entropy(lg, y, ignore_index=0), "reads the classes on axis 1"),
    (lambda lg, y: _flat(lg, y, ignore_index=0).item(), "Python number"),
    (lambda lg, y: _flat(lg, y, ignore_index=0, reduction="none"), "a 0-d tensor"),
    (lambda lg, y: _flat(lg, y, ignore_index=0).detach(), "cut off"),
    (lambda lg, y: None, "forget to `return`"),
    (lambda lg, y: _flat(lg, y, ignore_index=0) * 1.5, "values differ"),
])
def test_masked_loss_mistakes(answer, hint):
    assert_hint(check_masked_loss, answer, hint)


def test_masked_loss_other_right_forms_pass():
    def by_mask(logits, tgt_out):
        real = tgt_out != 0
        return _nll(logits, tgt_out)[real].mean()

    for answer in (by_mask, lambda lg, y: F.cross_entropy(lg.transpose(1, 2), y,
                                                           ignore_index=0),
                   lambda lg, y: _flat(lg, y, ignore_index=0).reshape(1)):
        assert verdict(check_masked_loss, answer).status == CORRECT


# --------------------------------------------------------------------------------------
# The loop of teacher forcing
# --------------------------------------------------------------------------------------

def _coin(use, coins, t, generator):
    """Whether step ``t`` feeds the gold token, decided the way ``use`` says."""
    if t >= len(coins):
        return False
    if use == "drawn":
        return bool(torch.rand((), generator=generator) < 0.5)
    return {"coin": bool(coins[t]), "inverted": not bool(coins[t]), "gold": True,
            "own": False, "previous coin": bool(coins[t - 1])}[use]


def forced(use="coin", gold_offset=0, own_lag=1, first="sos", stack_dim=1, argmax_dim=-1,
           extra_step=False, as_list=False):
    """A teacher-forcing loop with one knob per typical mistake: ``use`` is "coin",
    "inverted", "gold", "own", "previous coin" or "drawn"."""
    def decode(step, tgt_in, coins):
        logits = []
        T = tgt_in.size(1)
        generator = torch.Generator().manual_seed(7)
        for t in range(T + (1 if extra_step else 0)):
            if t == 0 and first == "sos":
                prev = tgt_in[:, 0]
            elif _coin(use, coins, t, generator):
                prev = tgt_in[:, min(max(t + gold_offset, 0), T - 1)]
            else:
                prev = logits[-own_lag].argmax(dim=argmax_dim)
            logits.append(step(prev))
        return logits if as_list else torch.stack(logits, dim=stack_dim)
    return decode


@pytest.mark.parametrize(("answer", "hint"), [
    (forced(use="inverted"), "swapped"),
    (forced(use="gold"), "fed the gold token at every step"),
    (forced(use="own"), "fed the model's own prediction at every step"),
    (forced(use="previous coin"), "use coins[t], the coin of step t"),
    (forced(use="drawn"), "do not draw new ones"),
    (forced(gold_offset=-1), "off by one: at step"),
    (forced(gold_offset=1), "a token the decoder must predict"),
    (forced(own_lag=2), "the prediction of step"),
    (forced(first="coin"), "step 0 has no previous prediction"),
    (forced(stack_dim=0), "[T, B, V]"),
    (forced(argmax_dim=0), "step expects prev of shape [2]"),
    (forced(extra_step=True), "more than T = 6 times"),
    (forced(as_list=True), "stack them"),
    (lambda step, tgt_in, coins: torch.stack([step(tgt_in[:, 0])], dim=1), "called 1 time"),
])
def test_teacher_forcing_mistakes(answer, hint):
    assert_hint(check_teacher_forcing, answer, hint)


def test_teacher_forcing_with_where_passes():
    def decode(step, tgt_in, coins):
        logits = [step(tgt_in[:, 0])]
        for t in range(1, tgt_in.size(1)):
            logits.append(step(torch.where(coins[t], tgt_in[:, t], logits[-1].argmax(-1))))
        return torch.stack(logits, dim=1)

    assert verdict(check_teacher_forcing, decode).status == CORRECT


# --------------------------------------------------------------------------------------
# The training step
# --------------------------------------------------------------------------------------

def train_step(order=("train", "zero", "loss", "backward", "clip", "step"), clip=1.0,
               returns="item", loss_calls=1, clip_value=False):
    """A training step doing ``order``'s operations, with knobs for other mistakes."""
    def step(model, optimizer, batch):
        loss = None
        for op in order:
            if op == "train":
                model.train()
            elif op == "eval":
                model.eval()
            elif op == "zero":
                optimizer.zero_grad()
            elif op == "loss":
                for _ in range(loss_calls):
                    loss = model.loss(batch.src, batch.src_lens, batch.tgt_in, batch.tgt_out)
            elif op == "backward":
                loss.backward()
            elif op == "backward twice":
                loss.backward(retain_graph=True)
                loss.backward()
            elif op == "clip" and clip_value:
                nn.utils.clip_grad_value_(model.parameters(), clip)
            elif op == "clip":
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            elif op == "step":
                optimizer.step()
        return {"item": lambda: loss.item() if loss is not None else 0.0, "tensor": lambda: loss.detach(),
                "none": lambda: None, "other": lambda: 0.5}[returns]()
    return step


@pytest.mark.parametrize(("answer", "hint"), [
    (train_step(order=("train", "loss", "backward", "clip", "step")), "start each step with"),
    (train_step(order=("train", "loss", "backward", "zero", "clip", "step")),
     "wipes the gradients"),
    (train_step(order=("train", "zero", "loss", "backward", "step")), "unclipped gradient"),
    (train_step(order=("train", "zero", "loss", "clip", "backward", "step")),
     "unclipped gradient"),
    (train_step(order=("train", "zero", "loss", "backward", "step", "clip")),
     "clipped after `optimizer.step()`"),
    (train_step(order=("zero", "loss", "backward", "clip", "step")), "`model.train()`"),
    (train_step(order=("zero", "loss", "train", "backward", "clip", "step")),
     "`model.train()`"),
    (train_step(order=("train", "zero", "loss", "step")), "call `loss.backward()`"),
    (train_step(order=("train", "zero", "loss", "backward", "clip")),
     "`optimizer.step()` is what changes them"),
    (train_step(order=("train", "zero", "loss", "backward twice", "clip", "step")),
     "once per step"),
    (train_step(clip=2.0), "clip the gradient's norm, at 1.0"),
    (train_step(clip_value=True), "clip the gradient's norm, at 1.0"),
    (train_step(loss_calls=2), "compute the loss once per step"),
    (train_step(order=("train", "zero")), "compute the loss with `model.loss"),
    (train_step(returns="none"), "return the loss"),
    (train_step(returns="other"), "return the loss of the batch"),
    (lambda model, optimizer, batch: model(batch.src, batch.src_lens, batch.tgt_in),
     "call `model.loss("),
])
def test_training_step_mistakes(answer, hint):
    assert_hint(check_training_step, answer, hint)


def test_training_step_other_right_forms_pass():
    # zero_grad at the end of the step (the first step starts without gradients), the
    # model's own zero_grad, a tensor returned, and eval mode after the step all pass.
    for answer in (train_step(order=("train", "loss", "backward", "clip", "step", "zero")),
                   train_step(returns="tensor"),
                   train_step(order=("train", "zero", "loss", "backward", "clip", "step",
                                     "eval"))):
        assert verdict(check_training_step, answer).status == CORRECT


# --------------------------------------------------------------------------------------
# Error analysis
# --------------------------------------------------------------------------------------

VOCAB = {"return", "self", ".", "x", "y", "(", ")", "=", "foo", "if", ":", ",", "1"}


@pytest.mark.parametrize(("reference", "prediction", "cause"), [
    ("return self.rare_name", "return self.x", "unknown token"),
    ("x = foo(x, y, 1)", "x = foo(x, y)", "too long"),
    ("return self.x", "return self.y", "near miss"),
    ("x = foo(x, y)", "x = foo(", "stops early"),
    ("x = foo(x, y)", "", "stops early"),
    ("x = foo(x, y)", "x = self.self.self.self", "repeats"),
    ("return self.x", "if x: y", "wrong start"),
    ("x = foo(x, y)", "x = y.self", "drifts"),
])
def test_error_cause_names_each_cause(reference, prediction, cause):
    assert cause in ERROR_CAUSES
    assert error_cause(reference, prediction, VOCAB, max_len=8) == cause


def test_a_line_that_reads_right_is_a_token_split():
    assert error_cause("return x", "return  x", VOCAB) == "token split"
