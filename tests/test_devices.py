"""Device bugs caught without a GPU (issue "One core for every model kind").

Every training and decoding entry point runs with the model's parameters on PyTorch's ``meta``
device and the batch built on the CPU, as the training loop, the chapters and the command line
build it. On a GPU runtime the same code meets a CUDA model and CPU batches: an input built with
``torch.tensor(...)`` without ``device=``, or not moved with ``on_model_device``, is a device
mismatch there, and it is one on ``meta`` too, without a GPU.

The meta device computes shapes, not values, so a path stops at its first data-dependent step
(``bool(t)``, ``int(t)``, ``.tolist()``, ``.cpu()``, indexing with a boolean mask). That stop is
accepted; a device mismatch before it fails the test, and so does any other error (a real bug).

A recurrent encoder packs its sources, which needs the lengths on the host (``src_lens.cpu()``):
on meta, every path of those models stops there, in the encoder. So each recurrent kind also
runs with its encoder's ``forward_unrolled`` (the same function one step at a time, checked
equal in ``test_models.py``) standing in for ``forward``; the path then reaches the decoder and
the entry point's own loop, and the test checks that the decoder ran.

The classifier of errors is checked on mismatches provoked here (PyTorch's own wording), and
the whole check on entry points whose move to the model's device was taken out.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import seq2code
from seq2code import analysis, beam, decoding, experiment, explorer, training
from seq2code.batching import Batch, Pair, collate
from seq2code.data import Example
from seq2code.models import KINDS, build_model
from seq2code.models.copy import CopySeq2Seq
from seq2code.models.multihead import MultiHeadLSTMDecoder, head_attention
from seq2code.vocab import Vocab

META = torch.device("meta")
PACKAGE = Path(seq2code.__file__).parent

# --- telling a device mismatch from a data-dependent stop ----------------------------------

DEVICE_MISMATCH = re.compile("|".join([
    r"Expected all tensors to be on the same device",  # CUDA with CPU (not provoked here)
    r"found at least two devices",  # the same, older wording
    r"is not on the expected device",  # meta with CPU: "Tensor on device cpu is not on ..."
    r"not at the same device",  # nn.RNN / nn.LSTM: "Input and parameter tensors are not ..."
    r"should be a 1D CPU int64 tensor, but got 1D (?!cpu)",  # packing lengths off the CPU
]))

DATA_DEPENDENT = re.compile("|".join([
    r"cannot be called on meta tensors",  # .item(), bool(t), int(t), float(t)
    r"Cannot copy out of meta tensor",  # .cpu(), .tolist()
    r"register_meta function for torch\.nonzero\(\)",  # boolean-mask indexing, nonzero()
]))


def is_device_mismatch(error: BaseException) -> bool:
    """True when ``error`` says that tensors of two devices met."""
    return isinstance(error, RuntimeError) and bool(DEVICE_MISMATCH.search(str(error)))


def is_data_dependent(error: BaseException) -> bool:
    """True when ``error`` is the meta device refusing a step that needs values."""
    return (isinstance(error, (RuntimeError, NotImplementedError))
            and not is_device_mismatch(error) and bool(DATA_DEPENDENT.search(str(error))))


def stop_site(error: BaseException) -> str:
    """``file:line`` of the library's last frame in ``error``'s traceback (the test's own frame
    when the library has none)."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if Path(f.filename).is_relative_to(PACKAGE)] or frames
    frame = ours[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} `{frame.line}`"


def run_on_meta(call: Callable[[], Any]) -> str | None:
    """Run ``call``: None if it ran through, else where it stopped at a data-dependent step.

    Fails the test on a device mismatch; any other error propagates.
    """
    try:
        call()
    except Exception as error:
        if is_device_mismatch(error):
            pytest.fail(f"device mismatch at {stop_site(error)}: {error}")
        if not is_data_dependent(error):
            raise
        return stop_site(error)
    return None


@pytest.mark.parametrize("provoke", [
    lambda: torch.ones(2) + torch.ones(2, device=META),
    lambda: torch.ones(2, device=META) * torch.ones(2),
    lambda: torch.cat([torch.ones(2, device=META), torch.ones(2)]),
    lambda: nn.Linear(2, 3).to(META)(torch.ones(1, 2)),
    lambda: nn.LSTM(2, 3, batch_first=True).to(META)(torch.ones(1, 4, 2)),
    lambda: nn.functional.cross_entropy(torch.ones(2, 3, device=META), torch.tensor([0, 1])),
    lambda: pack_padded_sequence(torch.ones(1, 2, 3), torch.tensor([2], device=META),
                                 batch_first=True),
], ids=["add", "mul", "cat", "linear", "lstm", "cross_entropy", "pack_lengths"])
def test_provoked_mismatches_are_device_mismatches(provoke):
    with pytest.raises(RuntimeError) as caught:
        provoke()
    assert is_device_mismatch(caught.value), str(caught.value)
    assert not is_data_dependent(caught.value)
    with pytest.raises(pytest.fail.Exception, match="device mismatch"):
        run_on_meta(provoke)


@pytest.mark.parametrize("provoke", [
    lambda: torch.ones(2, device=META).sum().item(),
    lambda: bool(torch.ones(2, device=META).all()),
    lambda: int(torch.ones(2, device=META).argmax()),
    lambda: torch.ones(2, device=META).tolist(),
    lambda: torch.ones(2, device=META).cpu(),
    lambda: torch.ones(3, device=META)[torch.ones(3, device=META) > 0],
], ids=["item", "bool", "int", "tolist", "cpu", "boolean_index"])
def test_steps_that_need_values_are_data_dependent(provoke):
    with pytest.raises((RuntimeError, NotImplementedError)) as caught:
        provoke()
    assert is_data_dependent(caught.value), str(caught.value)
    assert not is_device_mismatch(caught.value)
    assert run_on_meta(provoke) is not None


def test_other_errors_propagate():
    def broken():
        raise ValueError("not about devices")

    with pytest.raises(ValueError, match="not about devices"):
        run_on_meta(broken)


# --- the models and their data ----------------------------------------------------------------

NL = ["return the value of x", "call foo with 'bar'"]
CODE = ["return x", "foo ( 'bar' )"]
SRC_VOCAB = Vocab.build([s.split() for s in NL])
TGT_VOCAB = Vocab.build([c.split() for c in CODE])
PROFILE = {"max_src_len": 10, "max_tgt_len": 4}
MAX_LEN = 4


class Setup(NamedTuple):
    """A tiny model on meta, its pairs and the batch of them on the CPU, and a ``Trained``."""

    model: nn.Module
    pairs: list[Pair]
    batch: Batch
    trained: experiment.Trained
    decoder_calls: list[int]  # [n]: calls of the decoder's modules so far


def tiny(kind: str) -> nn.Module:
    return build_model(kind, len(SRC_VOCAB), len(TGT_VOCAB), emb_dim=8, hidden_dim=8)


def make_setup(kind: str, unrolled: bool) -> Setup:
    model = tiny(kind)  # its values do not matter: meta keeps none
    pairs = model.encode_pairs([s.split() for s in NL], [c.split() for c in CODE], SRC_VOCAB,
                               TGT_VOCAB)  # packed sources and extended targets for copy kinds
    batch = collate(pairs, range(len(pairs)))  # on the CPU
    model.to(META)
    if unrolled:  # the packing's host lengths would stop every path in the encoder
        encoder = model.encoder
        encoder.forward = lambda src, src_lens: encoder.forward_unrolled(src, src_lens)[0]
    calls = [0]

    def count(module, inputs):
        calls[0] += 1

    for module in model.decoder.modules():
        module.register_forward_pre_hook(count)
    trained = experiment.Trained(model, SRC_VOCAB, TGT_VOCAB, None, None,
                                 {"kind": kind, "profile": PROFILE})
    return Setup(model, pairs, batch, trained, calls)


def has_attention(kind: str) -> bool:
    """Whether the kind's decoder returns attention weights (the explorer needs them)."""
    model = tiny(kind)
    batch = collate(model.encode_pairs([NL[0].split()], [CODE[0].split()], SRC_VOCAB,
                                       TGT_VOCAB), [0])
    return decoding.greedy_decode(model, batch.src, batch.src_lens, 1).attention is not None


_MODELS = {kind: tiny(kind) for kind in KINDS}
COPY_KINDS = {k for k, m in _MODELS.items() if isinstance(m, CopySeq2Seq)}
HEAD_KINDS = {k for k, m in _MODELS.items()  # head_attention: multi-head LSTM, Transformer
              if isinstance(m.decoder, MultiHeadLSTMDecoder)
              or hasattr(m.decoder, "cross_attention")}
UNROLLED_KINDS = {k for k, m in _MODELS.items() if hasattr(m.encoder, "forward_unrolled")}
ATTENTION_KINDS = {k for k in KINDS if has_attention(k)}


def _train_loop(s: Setup) -> None:
    """The training loop itself: it moves each CPU batch to the model's device."""
    config = training.TrainConfig(epochs=1, batch_size=2, max_decode_len=MAX_LEN)
    with torch.random.fork_rng(devices=[]):  # train() seeds the global generator
        training.train(s.model, s.pairs, s.pairs, config, device=META, progress=False)


def _train_step(s: Setup, tf_mode: str, seed: int) -> None:
    """One step as the loop makes it: ``train_step`` expects the batch on the model's device
    (the loop moves it with ``batch.to(device)``), with half the steps teacher-forced."""
    coins = torch.Generator().manual_seed(seed)
    training.train_step(s.model, training.make_optimizer(s.model, 1e-3), s.batch.to(META),
                        teacher_forcing=0.5, tf_mode=tf_mode, generator=coins)


class Entry(NamedTuple):
    """An entry point: how to call it, the kinds it applies to (None: all), and whether its
    path reaches the decoder on meta (where nothing packs)."""

    call: Callable[[Setup], Any]
    kinds: set[str] | None = None
    reaches_decoder: bool = True


ENTRY_POINTS: dict[str, Entry] = {
    "greedy": Entry(lambda s: decoding.greedy_decode(s.model, s.batch.src, s.batch.src_lens,
                                                     MAX_LEN)),
    "greedy_forced": Entry(lambda s: decoding.greedy_decode(
        s.model, s.batch.src, s.batch.src_lens, MAX_LEN, forced=s.batch.tgt_out)),
    "greedy_gate_record": Entry(lambda s: decoding.greedy_decode(
        s.model, s.batch.src, s.batch.src_lens, MAX_LEN,
        record=lambda step: s.model.decoder.gate(step.features)), COPY_KINDS),
    "copy_gates": Entry(lambda s: s.model.gates(s.batch.src, s.batch.src_lens, s.batch.tgt_in),
                        COPY_KINDS),
    # K beams of B sources: it stops at int(src_lens.argmax()), before the first step
    "beam_search": Entry(lambda s: beam.beam_search(s.model, s.batch.src, s.batch.src_lens, 2,
                                                    MAX_LEN), reaches_decoder=False),
    # one source, one beam: no batch axes to find, so the path reaches the beam's loop
    "beam_search_one_row": Entry(lambda s: beam.beam_search(
        s.model, s.batch.src[:1], s.batch.src_lens[:1], 1, MAX_LEN, keep_history=True)),
    "sequence_log_probs": Entry(lambda s: beam.sequence_log_probs(
        s.model, s.batch.src, s.batch.src_lens, [[4, 5], [6]], [True, False])),
    "head_attention": Entry(lambda s: head_attention(s.model, s.batch.src, s.batch.src_lens,
                                                     s.batch.tgt_in), HEAD_KINDS),
    "trace_decoding": Entry(lambda s: explorer.trace_decoding(s.trained, NL[0], CODE[0]),
                            ATTENTION_KINDS),
    "translate": Entry(lambda s: experiment.translate(s.trained, NL)),
    "translate_beam": Entry(lambda s: experiment.translate(s.trained, NL, beam=2),
                            reaches_decoder=False),
    "evaluate_model": Entry(lambda s: experiment.evaluate_model(
        s.trained, [Example(0, NL[0], CODE[0]), Example(1, "", "pass")], use_cache=False)),
    "evaluate_loss": Entry(lambda s: training.evaluate_loss(s.model, [s.batch], META)),
    "exact_match": Entry(lambda s: training.exact_match(s.model, [s.batch], s.pairs, MAX_LEN,
                                                        META)),
    "train_step": Entry(lambda s: _train_step(s, "step", seed=0)),
    "train_step_per_row": Entry(lambda s: _train_step(s, "sequence", seed=0)),
    "train_loop": Entry(_train_loop),
    "token_accuracy_forced": Entry(lambda s: analysis.token_accuracy(s.model, s.pairs, 1.0)),
    "token_accuracy_free": Entry(lambda s: analysis.token_accuracy(s.model, s.pairs, 0.0)),
    "encoder_state_gradients": Entry(lambda s: analysis.encoder_state_gradients(s.model,
                                                                                 s.batch),
                                     UNROLLED_KINDS),
}


def _cases():
    for kind in KINDS:
        variants = [False, True] if kind in UNROLLED_KINDS else [False]
        for unrolled in variants:
            for name, entry in ENTRY_POINTS.items():
                if entry.kinds is None or kind in entry.kinds:
                    label = f"{kind}-{'unrolled' if unrolled else 'as_built'}-{name}"
                    yield pytest.param(kind, unrolled, name, id=label)


def test_the_per_row_coins_differ():
    """``train_step_per_row`` takes the per-row path only when the rows' coins differ."""
    coins = torch.rand(2, generator=torch.Generator().manual_seed(0)) < 0.5
    assert bool(coins.any()) and not bool(coins.all())


@pytest.mark.parametrize(("kind", "unrolled", "name"), list(_cases()))
def test_entry_point_has_no_device_mismatch(kind, unrolled, name):
    setup = make_setup(kind, unrolled)
    entry = ENTRY_POINTS[name]
    run_on_meta(lambda: entry.call(setup))
    packs = kind in UNROLLED_KINDS and not unrolled  # stops in the encoder
    if entry.reaches_decoder and not packs:
        assert setup.decoder_calls[0] > 0, f"{name} stopped before the decoder of {kind}"


# --- the check sees a missing move -------------------------------------------------------------


def test_a_cpu_tensor_added_to_a_parameter_is_caught():
    """A fake entry point that builds a CPU tensor and adds it to a parameter."""
    setup = make_setup("attention", unrolled=True)

    def buggy_entry_point(model: nn.Module) -> torch.Tensor:
        weight = model.decoder.out.weight
        return weight + torch.zeros(weight.shape)  # no device=: a CPU tensor

    with pytest.raises(pytest.fail.Exception, match="device mismatch"):
        run_on_meta(lambda: buggy_entry_point(setup.model))


def _no_move(model, *tensors):
    return tensors


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("module", "name"), [(decoding, "greedy"), (beam, "beam_search_one_row"),
                                              (beam, "sequence_log_probs")])
def test_an_entry_point_that_does_not_move_its_inputs_is_caught(kind, module, name,
                                                                  monkeypatch):
    """The library's entry points with ``on_model_device`` taken out: the CPU batch reaches the
    meta model, and the check fails."""
    monkeypatch.setattr(module, "on_model_device", _no_move)
    setup = make_setup(kind, unrolled=kind in UNROLLED_KINDS)
    with pytest.raises(pytest.fail.Exception, match="device mismatch"):
        run_on_meta(lambda: ENTRY_POINTS[name].call(setup))
