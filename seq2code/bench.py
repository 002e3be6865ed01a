"""Speed benchmark: the library's models against the tutorial-style reference (chapter 5).

Training throughput is measured in **target tokens per second** (the real tokens that the
loss scores, ``<eos>`` included, padding excluded), for a whole training step: forward pass,
loss, backward pass, gradient clipping and the Adam step. Decoding throughput is greedy
decoding in **sentences per second**.

Every model trains on the same fixed, seeded sample of Django training pairs, with the same
vocabularies, the same teacher forcing and the same batch size, in the same process. The
library batches by length (:func:`seq2code.batching.make_batches`); the reference
(:mod:`seq2code.reference`) draws its batches at random, as the tutorials do, and so does a
second run of the library's attention model (``batching: "random"``), which separates what the
code gains from what the batching gains. The runs take turns, one batch each, round after
round, so that a change in the machine's load touches all of them alike: the ratios are what
count, not the absolute figures.

::

    python -m seq2code bench --json                  # about a minute on a 2-core CPU
    python -m seq2code bench --seconds 20 --device cuda
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from seq2code import models, reference
from seq2code.batching import Batch, Pair, make_batches
from seq2code.decoding import greedy_decode
from seq2code.models.base import Seq2Seq
from seq2code.training import sequence_loss

TRAIN_UNIT = "target tokens/s"
DECODE_UNIT = "sentences/s"
LIBRARY_KINDS = ("rnn", "lstm", "attention")


def sample_pairs(pairs: list[Pair], n: int, seed: int = 0) -> list[Pair]:
    """``n`` pairs drawn from ``pairs`` without replacement with a seeded generator (all of
    them, shuffled, when ``n`` is larger)."""
    return random.Random(seed).sample(list(pairs), min(n, len(pairs)))


def device_name(device: torch.device) -> str:
    """``"cpu"`` or the CUDA card's name (``"cuda: NVIDIA H100 ..."``)."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return device.type


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class _Run:
    """One timed run: a step function cycled over its batches.

    ``step(batch)`` does the work on one batch and returns how many units (target tokens or
    sentences) it processed.
    """

    model: str
    implementation: str
    batching: str
    step: Callable[[Batch], int]
    batches: list[Batch]
    units: int = 0
    seconds: float = 0.0
    count: int = 0

    def run_one(self, device: torch.device) -> None:
        batch = self.batches[self.count % len(self.batches)]
        _sync(device)
        started = time.perf_counter()
        units = self.step(batch)
        _sync(device)
        self.seconds += time.perf_counter() - started
        self.units += units
        self.count += 1


def _to(batches: list[Batch], device: torch.device) -> list[Batch]:
    return [b.to(device) for b in batches]


def _library_train_step(model: Seq2Seq, teacher_forcing: float, clip: float,
                        seed: int) -> Callable[[Batch], int]:
    """One training step of the library (the body of :func:`seq2code.training.train`)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    coins = torch.Generator().manual_seed(seed)

    def step(batch: Batch) -> int:
        model.train()
        output = model(batch.src, batch.src_lens, batch.tgt_in, teacher_forcing=teacher_forcing,
                       generator=coins)  # logits [B, T, V]
        loss = sequence_loss(output.logits, batch.tgt_out)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        return batch.n_target_tokens

    return step


def _reference_train_step(model: reference.TutorialSeq2Seq, teacher_forcing: float,
                          clip: float, seed: int) -> Callable[[Batch], int]:
    """One training step of the tutorial-style reference; its batches are time-major."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    coins = random.Random(seed)

    def step(batch: Batch) -> int:
        # batch.src: [S, B], batch.tgt: [T, B] (transposed once, as the tutorials' loaders do)
        reference.train_step(model, optimizer, batch.src, batch.tgt, teacher_forcing, clip,
                             rng=coins)
        return batch.n_target_tokens

    return step


def _time_major(batches: list[Batch]) -> list[Batch]:
    """The batches with ``src`` ``[S, B]`` and ``tgt`` ``[T, B]`` (the tutorials' layout);
    ``n_target_tokens`` is unchanged (it counts non-pad tokens)."""
    return [Batch(b.src.T.contiguous(), b.src_lens, b.tgt.T.contiguous(), b.tgt_lens, b.indices)
            for b in batches]


def _interleave(runs: list[_Run], device: torch.device, seconds: float | None,
                batches: int | None, desc: str, progress: bool) -> None:
    """One warm-up batch per run (not counted), then rounds of one batch per run until every
    run has done ``batches`` batches, or ``seconds`` have passed since the warm-up began (at
    least two rounds)."""
    started = time.perf_counter()
    for run in runs:
        run.step(run.batches[0])
    for run in runs:
        run.units = run.seconds = 0
        run.count = 1  # the warm-up batch was batch 0
    bar = tqdm(desc=desc, unit="round", disable=not progress)
    rounds = 0
    while True:
        for run in runs:
            run.run_one(device)
        rounds += 1
        bar.update(1)
        spent = time.perf_counter() - started
        if (batches is not None and rounds >= batches) or (
                batches is None and rounds >= 2 and spent >= (seconds or 0.0)):
            break
    bar.close()


def run_bench(train_pairs: list[Pair], src_vocab_size: int, tgt_vocab_size: int, *,
              seconds: float = 60.0, batches: int | None = None,
              device: torch.device | str = "cpu", teacher_forcing: float = 0.5,
              batch_size: int = 64, max_len: int = 100, n_pairs: int = 2000,
              n_decode: int = 512, seed: int = 0, progress: bool = True) -> list[dict]:
    """Measure training and decoding throughput; return one dict per measurement.

    Args:
        train_pairs: encoded training pairs to draw the sample from.
        src_vocab_size, tgt_vocab_size: the vocabularies' sizes (the same for every model).
        seconds: wall-clock time of the measurements in all, warm-up batches included (about
            70% training, 30% decoding; at least two rounds each); building the models and
            the batches comes on top.
        batches: instead of ``seconds``, this many batches per run.
        device: where to run.
        teacher_forcing: the probability of feeding the gold token, the same for every model
            (0.5 is the course's setting).
        batch_size: pairs per batch.
        max_len: greedy decoding's length limit.
        n_pairs: the size of the seeded training sample.
        n_decode: sentences of that sample decoded (the first ``n_decode``).
        seed: seeds the sample, the weights and the teacher-forcing coins.

    Returns:
        Dicts with ``model``, ``implementation``, ``what`` (``"train"``, ``"decode"`` or
        ``"ratio"``), ``value``, ``unit``, ``teacher_forcing``, ``batching``, ``device``,
        ``threads`` and the raw counts; the ratio lines divide the library's attention model by
        the reference and say what they compare.
    """
    device = torch.device(device)
    pairs = sample_pairs(train_pairs, n_pairs, seed)
    by_length = _to(make_batches(pairs, batch_size, shuffle=True, by_length=True, seed=seed),
                    device)
    at_random = _to(make_batches(pairs, batch_size, shuffle=True, by_length=False, seed=seed),
                    device)
    clip = 1.0

    built: dict[str, Seq2Seq] = {}
    train_runs = []
    for kind in LIBRARY_KINDS:
        torch.manual_seed(seed)
        built[kind] = models.build_model(kind, src_vocab_size, tgt_vocab_size).to(device)
        train_runs.append(_Run(kind, "library", "by length",
                               _library_train_step(built[kind], teacher_forcing, clip, seed),
                               by_length))
    torch.manual_seed(seed)
    attention_random = models.build_model("attention", src_vocab_size, tgt_vocab_size).to(device)
    attention_random.load_state_dict(built["attention"].state_dict())
    train_runs.append(_Run("attention", "library", "random",
                           _library_train_step(attention_random, teacher_forcing, clip, seed),
                           at_random))
    tutorial = reference.copy_library_weights(
        reference.TutorialSeq2Seq(src_vocab_size, tgt_vocab_size), built["attention"]).to(device)
    train_runs.append(_Run("reference", "tutorial", "random",
                           _reference_train_step(tutorial, teacher_forcing, clip, seed),
                           _time_major(at_random)))

    train_seconds = None if seconds is None else 0.7 * seconds
    _interleave(train_runs, device, train_seconds, batches, "bench: training", progress)

    # Decoding: the reference decodes with the trained library attention model's weights, so
    # that both compute the same function and write sentences of the same lengths.
    reference.copy_library_weights(tutorial, built["attention"])
    decode_pairs = pairs[:n_decode]
    decode_sorted = _to(make_batches(decode_pairs, batch_size, by_length=True), device)
    decode_random = _to(make_batches(decode_pairs, batch_size, by_length=False), device)

    def library_decode(model: Seq2Seq) -> Callable[[Batch], int]:
        def step(batch: Batch) -> int:
            greedy_decode(model, batch.src, batch.src_lens, max_len)
            return len(batch)
        return step

    def reference_decode(batch: Batch) -> int:
        reference.greedy_decode(tutorial, batch.src, max_len)
        return len(batch.indices)

    decode_runs = [_Run(kind, "library", "by length", library_decode(built[kind]), decode_sorted)
                   for kind in LIBRARY_KINDS]
    decode_runs.append(_Run("reference", "tutorial", "random", reference_decode,
                            _time_major(decode_random)))
    decode_seconds = None if seconds is None else 0.3 * seconds
    _interleave(decode_runs, device, decode_seconds, batches, "bench: decoding", progress)

    common = {"teacher_forcing": teacher_forcing, "device": device_name(device),
              "threads": torch.get_num_threads(), "batch_size": batch_size}
    results = []
    for what, unit, runs in (("train", TRAIN_UNIT, train_runs),
                             ("decode", DECODE_UNIT, decode_runs)):
        for run in runs:
            results.append({"model": run.model, "implementation": run.implementation,
                            "what": what, "value": run.units / max(run.seconds, 1e-9),
                            "unit": unit, "batching": run.batching, "units": run.units,
                            "seconds": run.seconds, "batches": run.count - 1, **common})
        if what == "decode":
            for result in results[-len(runs):]:
                result.pop("teacher_forcing")  # greedy decoding feeds its own tokens

    def value(what: str, model: str, batching: str) -> float:
        return next(r["value"] for r in results
                    if r["what"] == what and r["model"] == model and r["batching"] == batching)

    ref_train = value("train", "reference", "random")
    results.append({
        "model": "attention/reference", "what": "ratio", "of": "train",
        "value": value("train", "attention", "by length") / ref_train, "unit": "x",
        "note": (f"training, both at teacher forcing {teacher_forcing}, same pairs and weights "
                 "at the start; library batched by length, reference in random batches"),
        **common})
    results.append({
        "model": "attention/reference", "what": "ratio", "of": "train, random batches",
        "value": value("train", "attention", "random") / ref_train, "unit": "x",
        "note": (f"training, both at teacher forcing {teacher_forcing} on the same random "
                 "batches: the code alone"),
        **common})
    results.append({
        "model": "attention/reference", "what": "ratio", "of": "decode",
        "value": value("decode", "attention", "by length")
        / value("decode", "reference", "random"), "unit": "x",
        "note": ("greedy decoding with the same weights; library batched by length, reference "
                 "in random batches"),
        **{k: v for k, v in common.items() if k != "teacher_forcing"}})
    return results


def training_flops(train_pairs: list[Pair], src_vocab_size: int, tgt_vocab_size: int, *,
                   n_pairs: int = 512, batch_size: int = 64, teacher_forcing: float = 0.5,
                   seed: int = 0) -> dict:
    """Floating-point operations per target token of one training epoch over a seeded sample,
    for the library's attention model (batched by length) and the reference (random batches).

    Unlike throughput, this does not depend on the machine or its load: it is the part of the
    speed-up that comes from doing less work (keys projected once per sequence, less padding),
    counted by PyTorch's ``FlopCounterMode`` (matrix products and the like; the forward and
    backward passes, the optimizer's step is not counted).

    Returns:
        ``{"library": ..., "reference": ..., "ratio": reference / library, "tokens": n}``,
        FLOPs per target token; both sides see the same pairs, weights and coins.
    """
    from torch.utils.flop_counter import FlopCounterMode

    pairs = sample_pairs(train_pairs, n_pairs, seed)
    by_length = make_batches(pairs, batch_size, shuffle=True, by_length=True, seed=seed)
    at_random = make_batches(pairs, batch_size, shuffle=True, by_length=False, seed=seed)
    torch.manual_seed(seed)
    library = models.build_model("attention", src_vocab_size, tgt_vocab_size)
    tutorial = reference.copy_library_weights(
        reference.TutorialSeq2Seq(src_vocab_size, tgt_vocab_size), library)
    sides = {"library": (_library_train_step(library, teacher_forcing, 1.0, seed), by_length),
             "reference": (_reference_train_step(tutorial, teacher_forcing, 1.0, seed),
                           _time_major(at_random))}
    result = {}
    for name, (step, batches) in sides.items():
        with FlopCounterMode(display=False) as counter:
            tokens = sum(step(batch) for batch in batches)
        result[name] = counter.get_total_flops() / tokens
    result["ratio"] = result["reference"] / result["library"]
    result["tokens"] = tokens
    return result


def bench_data(profile=None, data_dir=None):
    """The training pairs and vocabulary sizes of a profile's data (default: the run
    profile of ``$SEQ2CODE_PROFILE``), as :func:`run_bench` takes them."""
    from seq2code.experiment import prepare_data

    data = prepare_data(profile, data_dir)
    return data.pairs["train"], len(data.src_vocab), len(data.tgt_vocab), data.profile


def format_results(results: list[dict]) -> str:
    """A plain-text table of :func:`run_bench`'s results."""
    lines = []
    for r in results:
        if r["what"] == "ratio":
            lines.append(f"ratio {r['model']} ({r['of']}): {r['value']:.2f}x  [{r['note']}]")
            continue
        tf = (f", teacher forcing {r['teacher_forcing']}" if "teacher_forcing" in r else "")
        lines.append(f"{r['what']:<6} {r['model']:<9} {r['implementation']:<8} "
                     f"{r['batching']:<9} {r['value']:>10,.0f} {r['unit']}"
                     f"  ({r['batches']} batches, {r['seconds']:.1f} s{tf})")
    first = results[0]
    lines.append(f"device {first['device']}, {first['threads']} torch threads, batch size "
                 f"{first['batch_size']}")
    return "\n".join(lines)


def to_json_lines(results: list[dict]) -> str:
    """One JSON object per line."""
    return "\n".join(json.dumps(r) for r in results)


class BenchUsageError(ValueError):
    """A bench command line that cannot run as given (the command line exits with 2)."""


def run_command(*, json_lines: bool = False, seconds: float | None = None,
                batches: int | None = None, device: str | None = None,
                teacher_forcing: float = 0.5, pairs: int = 2000,
                profile: str | None = None) -> int:
    """``python -m seq2code bench``: measure and print (a table, or JSON lines)."""
    from seq2code.profiles import default_device

    if seconds is not None and seconds <= 0:
        raise BenchUsageError("--seconds must be positive")
    if batches is not None and batches < 1:
        raise BenchUsageError("--batches must be at least 1")
    if not 0.0 <= teacher_forcing <= 1.0:
        raise BenchUsageError("--teacher-forcing must lie in [0, 1]")
    if pairs < 1:
        raise BenchUsageError("--pairs must be at least 1")
    try:
        where = torch.device(device) if device else default_device()
    except RuntimeError:
        raise BenchUsageError(f"unknown device {device!r}: use cpu or cuda") from None
    if where.type == "cuda" and not torch.cuda.is_available():
        raise BenchUsageError("--device cuda, but no CUDA GPU is available: use --device cpu")
    train_pairs, src_size, tgt_size, used = bench_data(profile)
    results = run_bench(train_pairs, src_size, tgt_size,
                        seconds=60.0 if seconds is None and batches is None else seconds,
                        batches=batches, device=where, teacher_forcing=teacher_forcing,
                        max_len=used.max_tgt_len, n_pairs=pairs, progress=not json_lines)
    for result in results:
        result["profile"] = used.name
    print(to_json_lines(results) if json_lines else format_results(results))
    return 0
