"""Speed benchmark: the library's models against the tutorial-style reference (chapter 5).

What is measured:

* **Training throughput** in **target tokens per second**: the real tokens that the loss
  scores (``<eos>`` included, padding excluded) per second of whole training steps: forward
  pass, loss, backward pass, gradient clipping and the Adam step. The library trains with
  :func:`seq2code.training.train_step` and :func:`seq2code.training.make_optimizer`, exactly
  as :func:`seq2code.training.train` does; the reference with
  :func:`seq2code.reference.train_step` and a plain Adam, as the tutorials do.
* **Decoding throughput**: greedy decoding in **sentences per second**, the reference with
  the trained library attention model's weights (the same function, the same sentences).

How: every model sees the same fixed, seeded sample of Django training pairs, with the same
vocabularies, the same teacher forcing, the same batch size and (for the attention model and
the reference) the same starting weights, in the same process. The library batches by length
(:func:`seq2code.batching.make_batches`); the reference (:mod:`seq2code.reference`) draws its
batches at random, as the tutorials do, and so does a second run of the library's attention
model (``batching: "random"``), which separates what the code gains from what the batching
gains. The thread count is pinned first (:func:`seq2code.threads.configure_threads`) and
reported with the machine's load average before and after.

Each run does one warm-up batch (not timed), then a **full pass** over all of its sample
batches per repeat, every batch exactly once. The runs take turns pass by pass (run A's pass,
run B's pass, ..., then the next repeat, the order rotated by one each repeat so that no run
always goes first), so a change of the machine's load touches all of them alike. A ratio is
computed per repeat (the two runs' throughputs in that repeat) and reported as its median with
its spread (``min``, ``max`` over the ``repeats``): the ratios are what count, not the absolute
figures.

::

    python -m seq2code bench --json                  # 1024 pairs, 3 repeats: 3.5 min on a
                                                     # 2-core CPU, 1 thread, load about 2
    python -m seq2code bench --threads 1 --repeats 5
    python -m seq2code bench --device cuda --pairs 4096
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from seq2code import models, reference
from seq2code.batching import Batch, Pair, make_batches
from seq2code.decoding import greedy_decode
from seq2code.models.base import Seq2Seq
from seq2code.threads import configure_threads, load_average, threads_report
from seq2code.training import make_optimizer, train_step

TRAIN_UNIT = "target tokens/s"
DECODE_UNIT = "sentences/s"
LIBRARY_KINDS = ("rnn", "lstm", "attention")
LEARNING_RATE = 1e-3
CLIP = 1.0


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


def spread(values: Sequence[float]) -> dict:
    """``{"value": median, "min", "max", "repeats": len(values), "per_repeat": values}`` of
    one figure measured once per repeat."""
    return {"value": statistics.median(values), "min": min(values), "max": max(values),
            "repeats": len(values), "per_repeat": list(values)}


@dataclass
class _Run:
    """One timed run: a step function applied to every one of its batches, once per pass.

    ``step(batch)`` does the work on one batch and returns how many units (target tokens or
    sentences) it processed; ``units`` is a pass's total, ``pass_seconds`` one entry per pass.
    """

    model: str
    implementation: str
    batching: str
    step: Callable[[Batch], int]
    batches: list[Batch]
    units: int = 0
    pass_seconds: list[float] = field(default_factory=list)

    def warm_up(self, device: torch.device) -> None:
        """One untimed batch (the first): allocations, kernels' first calls."""
        self.step(self.batches[0])
        _sync(device)

    def full_pass(self, device: torch.device) -> None:
        """Every batch once, timed as a whole."""
        _sync(device)
        started = time.perf_counter()
        units = sum(self.step(batch) for batch in self.batches)
        _sync(device)
        self.pass_seconds.append(time.perf_counter() - started)
        self.units = units

    @property
    def throughputs(self) -> list[float]:
        """Units per second of each pass."""
        return [self.units / max(seconds, 1e-9) for seconds in self.pass_seconds]


def _to(batches: list[Batch], device: torch.device) -> list[Batch]:
    return [b.to(device) for b in batches]


def _library_step(model: Seq2Seq, teacher_forcing: float, seed: int) -> Callable[[Batch], int]:
    """The library's training step (:func:`seq2code.training.train_step`, the one that
    :func:`seq2code.training.train` runs) with its optimizer and seeded teacher-forcing coins;
    returns the batch's target tokens."""
    optimizer = make_optimizer(model, LEARNING_RATE)
    coins = torch.Generator().manual_seed(seed)

    def step(batch: Batch) -> int:
        train_step(model, optimizer, batch, teacher_forcing=teacher_forcing, clip=CLIP,
                   generator=coins)
        return batch.n_target_tokens

    return step


def _reference_step(model: reference.TutorialSeq2Seq, teacher_forcing: float,
                    seed: int) -> Callable[[Batch], int]:
    """One training step of the tutorial-style reference (plain Adam, as the tutorials);
    its batches are time-major."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    coins = random.Random(seed)

    def step(batch: Batch) -> int:
        # batch.src: [S, B], batch.tgt: [T, B] (transposed once, as the tutorials' loaders do)
        reference.train_step(model, optimizer, batch.src, batch.tgt, teacher_forcing, CLIP,
                             rng=coins)
        return batch.n_target_tokens

    return step


def _time_major(batches: list[Batch]) -> list[Batch]:
    """The batches with ``src`` ``[S, B]`` and ``tgt`` ``[T, B]`` (the tutorials' layout);
    ``n_target_tokens`` is unchanged (it counts non-pad tokens)."""
    return [Batch(b.src.T.contiguous(), b.src_lens, b.tgt.T.contiguous(), b.tgt_lens, b.indices)
            for b in batches]


def _take_turns(runs: list[_Run], device: torch.device, repeats: int, desc: str,
                progress: bool) -> None:
    """One warm-up batch per run, then ``repeats`` rounds of one full pass per run, the
    order rotated by one run each round."""
    for run in runs:
        run.warm_up(device)
    with tqdm(total=repeats * len(runs), desc=desc, unit="pass", disable=not progress) as bar:
        for repeat in range(repeats):
            shift = repeat % len(runs)
            for run in runs[shift:] + runs[:shift]:
                run.full_pass(device)
                bar.update(1)


def run_bench(train_pairs: list[Pair], src_vocab_size: int, tgt_vocab_size: int, *,
              repeats: int = 3, n_pairs: int = 1024, n_decode: int = 256,
              threads: int | None = None, device: torch.device | str = "cpu",
              teacher_forcing: float = 0.5, batch_size: int = 64, max_len: int = 100,
              seed: int = 0, progress: bool = True) -> list[dict]:
    """Measure training and decoding throughput; return one dict per measurement.

    Args:
        train_pairs: encoded training pairs to draw the sample from.
        src_vocab_size, tgt_vocab_size: the vocabularies' sizes (the same for every model).
        repeats: full passes per run (each over all of its batches), taking turns.
        n_pairs: the size of the seeded training sample (``ceil(n_pairs / batch_size)``
            batches a pass).
        n_decode: sentences of that sample decoded per pass (the first ``n_decode``).
        threads: torch's thread count during the measurement
            (:func:`~seq2code.threads.configure_threads`: None takes ``$OMP_NUM_THREADS``,
            else the CPUs this process may use); the previous count is restored afterwards.
        device: where to run.
        teacher_forcing: the probability of feeding the gold token, the same for every model
            (0.5 is the course's setting).
        batch_size: pairs per batch.
        max_len: greedy decoding's length limit.
        seed: seeds the sample, the weights and the teacher-forcing coins.

    Returns:
        Dicts, first the throughputs (``what``: ``"train"`` or ``"decode"``; ``model``,
        ``implementation``, ``batching``, ``unit``; ``value`` the median over the repeats
        of a pass's throughput, ``min``, ``max``, ``repeats``, ``per_repeat``; ``units`` per
        pass, ``batches`` per pass, ``seconds`` in all and ``pass_seconds``), then the ratios
        of the library's attention model to the reference (``what``: ``"ratio"``, ``of``:
        ``"train"`` (the whole gain: library by length against reference at random),
        ``"train, random batches"`` (the code alone: both at random) and ``"decode"``; the
        same ``value`` / ``min`` / ``max`` / ``per_repeat`` fields, each repeat's ratio being
        the quotient of the two runs' throughputs in that repeat, and a ``note``). Every dict
        also holds ``device``, ``threads``, ``cpus``, ``load_before`` and ``load_after``
        (1-minute load averages), ``batch_size``, ``pairs`` (the sample's size) and
        ``teacher_forcing`` (not for decoding).

    Raises:
        ValueError: for ``repeats``, ``n_pairs``, ``n_decode`` or ``threads`` below 1, or
            empty ``train_pairs``.
    """
    if repeats < 1 or n_pairs < 1 or n_decode < 1:
        raise ValueError("repeats, n_pairs and n_decode must be at least 1")
    if not train_pairs:
        raise ValueError("no training pairs to sample from")
    device = torch.device(device)
    previous_threads = torch.get_num_threads()
    configure_threads(threads)
    try:
        load_before = load_average()
        train_runs, decode_runs = _measure(train_pairs, src_vocab_size, tgt_vocab_size,
                                           repeats, n_pairs, n_decode, device,
                                           teacher_forcing, batch_size, max_len, seed,
                                           progress)
        report = threads_report()
    finally:
        torch.set_num_threads(previous_threads)
    common = {"device": device_name(device), "threads": report["threads"],
              "cpus": report["cpus"], "load_before": load_before,
              "load_after": report["load_1m"], "batch_size": batch_size,
              "pairs": min(n_pairs, len(train_pairs))}
    return _results(train_runs, decode_runs, teacher_forcing, common)


def _measure(train_pairs: list[Pair], src_vocab_size: int, tgt_vocab_size: int,
             repeats: int, n_pairs: int, n_decode: int, device: torch.device,
             teacher_forcing: float, batch_size: int, max_len: int, seed: int,
             progress: bool) -> tuple[list[_Run], list[_Run]]:
    """Build the models and batches, and time the training runs, then the decoding runs."""
    pairs = sample_pairs(train_pairs, n_pairs, seed)
    by_length = _to(make_batches(pairs, batch_size, shuffle=True, by_length=True, seed=seed),
                    device)
    at_random = _to(make_batches(pairs, batch_size, shuffle=True, by_length=False, seed=seed),
                    device)

    built: dict[str, Seq2Seq] = {}
    train_runs = []
    for kind in LIBRARY_KINDS:
        torch.manual_seed(seed)
        built[kind] = models.build_model(kind, src_vocab_size, tgt_vocab_size).to(device)
        train_runs.append(_Run(kind, "library", "by length",
                               _library_step(built[kind], teacher_forcing, seed), by_length))
    torch.manual_seed(seed)
    attention_random = models.build_model("attention", src_vocab_size, tgt_vocab_size).to(device)
    attention_random.load_state_dict(built["attention"].state_dict())
    train_runs.append(_Run("attention", "library", "random",
                           _library_step(attention_random, teacher_forcing, seed), at_random))
    tutorial = reference.copy_library_weights(
        reference.TutorialSeq2Seq(src_vocab_size, tgt_vocab_size), built["attention"]).to(device)
    train_runs.append(_Run("reference", "tutorial", "random",
                           _reference_step(tutorial, teacher_forcing, seed),
                           _time_major(at_random)))
    _take_turns(train_runs, device, repeats, "bench: training", progress)

    # Decoding: the reference decodes with the trained library attention model's weights, so
    # that both compute the same function and write sentences of the same lengths; the
    # weights stay fixed, so every pass does the same work.
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
        reference.greedy_decode(tutorial, batch.src, max_len)  # src [S, B]
        return len(batch.indices)

    decode_runs = [_Run(kind, "library", "by length", library_decode(built[kind]), decode_sorted)
                   for kind in LIBRARY_KINDS]
    decode_runs.append(_Run("reference", "tutorial", "random", reference_decode,
                            _time_major(decode_random)))
    _take_turns(decode_runs, device, repeats, "bench: decoding", progress)
    return train_runs, decode_runs


def _results(train_runs: list[_Run], decode_runs: list[_Run], teacher_forcing: float,
             common: dict) -> list[dict]:
    """The result dicts of :func:`run_bench` from its timed runs."""
    results = []
    for what, unit, runs in (("train", TRAIN_UNIT, train_runs),
                             ("decode", DECODE_UNIT, decode_runs)):
        for run in runs:
            results.append({"model": run.model, "implementation": run.implementation,
                            "what": what, **spread(run.throughputs), "unit": unit,
                            "batching": run.batching, "units": run.units,
                            "batches": len(run.batches), "seconds": sum(run.pass_seconds),
                            "pass_seconds": list(run.pass_seconds), **common,
                            # greedy decoding feeds its own tokens
                            **({"teacher_forcing": teacher_forcing} if what == "train" else {})})

    def run_of(runs: list[_Run], model: str, batching: str) -> _Run:
        return next(r for r in runs if r.model == model and r.batching == batching)

    def ratio(runs: list[_Run], batching: str) -> dict:
        ours = run_of(runs, "attention", batching).throughputs
        theirs = run_of(runs, "reference", "random").throughputs
        return spread([a / b for a, b in zip(ours, theirs, strict=True)])

    results.append({
        "model": "attention/reference", "what": "ratio", "of": "train",
        **ratio(train_runs, "by length"), "unit": "x",
        "note": (f"training, both at teacher forcing {teacher_forcing}, same pairs and weights "
                 "at the start; library batched by length, reference in random batches"),
        **common, "teacher_forcing": teacher_forcing})
    results.append({
        "model": "attention/reference", "what": "ratio", "of": "train, random batches",
        **ratio(train_runs, "random"), "unit": "x",
        "note": (f"training, both at teacher forcing {teacher_forcing} on the same random "
                 "batches: the code alone"),
        **common, "teacher_forcing": teacher_forcing})
    results.append({
        "model": "attention/reference", "what": "ratio", "of": "decode",
        **ratio(decode_runs, "by length"), "unit": "x",
        "note": ("greedy decoding with the same weights; library batched by length, reference "
                 "in random batches"),
        **common})
    return results


def training_flops(train_pairs: list[Pair], src_vocab_size: int, tgt_vocab_size: int, *,
                   n_pairs: int = 512, batch_size: int = 64, teacher_forcing: float = 0.5,
                   seed: int = 0) -> dict:
    """Floating-point operations per target token of one training epoch over a seeded sample,
    for the library's attention model (batched by length, :func:`seq2code.training.train_step`)
    and the reference (random batches).

    Unlike throughput, this does not depend on the machine or its load: it is the part of the
    speed-up that comes from doing less work (keys projected once per sequence, less padding,
    the output layer over real tokens only), counted by PyTorch's ``FlopCounterMode`` (matrix
    products and the like; the forward and backward passes, the optimizer's step is not
    counted).

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
    sides = {"library": (_library_step(library, teacher_forcing, seed), by_length),
             "reference": (_reference_step(tutorial, teacher_forcing, seed),
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


def _load(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.2f}"


def format_results(results: list[dict]) -> str:
    """A plain-text table of :func:`run_bench`'s results: medians with their spread."""
    lines = []
    for r in results:
        if r["what"] == "ratio":
            lines.append(f"ratio {r['model']} ({r['of']}): {r['value']:.2f}x "
                         f"(min {r['min']:.2f}x, max {r['max']:.2f}x over {r['repeats']} "
                         f"repeats)  [{r['note']}]")
            continue
        tf = (f", teacher forcing {r['teacher_forcing']}" if "teacher_forcing" in r else "")
        lines.append(f"{r['what']:<6} {r['model']:<9} {r['implementation']:<8} "
                     f"{r['batching']:<9} {r['value']:>10,.0f} {r['unit']}"
                     f"  (min {r['min']:,.0f}, max {r['max']:,.0f}; {r['repeats']} passes of "
                     f"{r['batches']} batches, {r['seconds']:.1f} s{tf})")
    first = results[0]
    lines.append(f"device {first['device']}, {first['threads']} torch threads on "
                 f"{first['cpus']} CPUs, load average {_load(first['load_before'])} before, "
                 f"{_load(first['load_after'])} after, batch size {first['batch_size']}")
    return "\n".join(lines)


def to_json_lines(results: list[dict]) -> str:
    """One JSON object per line."""
    return "\n".join(json.dumps(r) for r in results)


class BenchUsageError(ValueError):
    """A bench command line that cannot run as given (the command line exits with 2)."""


def run_command(*, json_lines: bool = False, repeats: int = 3, pairs: int = 1024,
                threads: int | None = None, device: str | None = None,
                teacher_forcing: float = 0.5, profile: str | None = None) -> int:
    """``python -m seq2code bench``: measure and print (a table, or JSON lines)."""
    from seq2code.profiles import default_device

    if repeats < 1:
        raise BenchUsageError("--repeats must be at least 1")
    if pairs < 1:
        raise BenchUsageError("--pairs must be at least 1")
    if threads is not None and threads < 1:
        raise BenchUsageError("--threads must be at least 1")
    if not 0.0 <= teacher_forcing <= 1.0:
        raise BenchUsageError("--teacher-forcing must lie in [0, 1]")
    try:
        where = torch.device(device) if device else default_device()
    except RuntimeError:
        raise BenchUsageError(f"unknown device {device!r}: use cpu or cuda") from None
    if where.type == "cuda" and not torch.cuda.is_available():
        raise BenchUsageError("--device cuda, but no CUDA GPU is available: use --device cpu")
    train_pairs, src_size, tgt_size, used = bench_data(profile)
    results = run_bench(train_pairs, src_size, tgt_size, repeats=repeats, n_pairs=pairs,
                        n_decode=min(pairs, 256), threads=threads, device=where,
                        teacher_forcing=teacher_forcing, max_len=used.max_tgt_len,
                        progress=not json_lines)
    for result in results:
        result["profile"] = used.name
    print(to_json_lines(results) if json_lines else format_results(results))
    return 0
