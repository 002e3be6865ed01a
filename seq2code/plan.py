"""What a chapter will train and for how long, said before it trains.

A chapter lists the models it needs, the way it will ask :func:`seq2code.experiment.train_model`
for them, and prints the plan before its first training cell::

    plan = plan_training([want("rnn"), want("lstm")], data)
    print(plan)

For each model the plan says whether the model cache already holds it (the same key as
``train_model``: :func:`seq2code.experiment.model_spec`), and for each one that must be
trained, how many minutes it will take *on the runtime at hand*: a short timed run of a few
training steps (:func:`seq2code.training.train_step` on batches of the chapter's own data,
spread over the range of lengths), times the batches of an epoch, plus the dev evaluation
that follows every epoch (the dev loss and greedy decoding, timed on a few dev batches),
times the epochs. With early stopping the estimate is for every epoch: an upper bound.

The same run counts the floating-point operations of a training step and of the dev
evaluation (PyTorch's ``FlopCounterMode``, as :func:`seq2code.bench.training_flops` does),
from which the plan estimates the minutes on a Colab T4 GPU under a stated assumption
about the throughput that these models achieve there (:data:`T4_ASSUMED_TFLOPS`): an
assumption until the course measures a T4, and said so wherever it is printed.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from seq2code import checkpoint, decoding, models, training
from seq2code.averaging import WeightAverage
from seq2code.batching import Batch, make_batches
from seq2code.colab import cpu_runtime_notice, on_colab
from seq2code.experiment import Data, ModelSpec, model_pairs, model_spec
from seq2code.models.base import evaluating
from seq2code.profiles import PROFILES, Profile, default_device
from seq2code.threads import available_cpus, configure_threads

T4_PEAK_TFLOPS = 8.1  # NVIDIA T4, single precision (FP32), the vendor's peak figure
# ASSUMPTION, not a measurement: the share of that peak these models reach on a T4. They
# run one time step after another with small matrices (batch 64, hidden 256), so kernel
# launches and Python, not arithmetic, bound them; one sixteenth of the peak.
T4_ASSUMED_TFLOPS = T4_PEAK_TFLOPS / 16
# Profile fields that shape an epoch's work: two profiles equal in these differ only in
# how many epochs they train, so an epoch measured in one is an epoch of the other.
EPOCH_FIELDS = ("train_size", "dev_size", "batch_size", "min_freq", "max_src_len",
                "max_tgt_len", "emb_dim", "hidden_dim")


@dataclass(frozen=True)
class Request:
    """One model a chapter asks :func:`~seq2code.experiment.train_model` for (its arguments).

    Attributes:
        kind: the model kind.
        label: how the plan names it (default: the kind, with its options).
        seed: ``train_model``'s ``seed``.
        train_options: ``train_model``'s ``train_options``.
        model_options: ``train_model``'s ``**model_options``.
        prepare: for a model trained on other data than the chapter's, the function that
            makes it from the chapter's data (chapter 9's reverse model:
            ``rerank.reverse_data``); None: the chapter's data.
    """

    kind: str
    label: str | None = None
    seed: int = 0
    train_options: dict = field(default_factory=dict)
    model_options: dict = field(default_factory=dict)
    prepare: Callable[[Data], Data] | None = None

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        options = {**self.model_options, **self.train_options}
        if self.seed:
            options["seed"] = self.seed
        extra = ", ".join(f"{k}={v}" for k, v in options.items())
        return f"{self.kind} ({extra})" if extra else self.kind

    def data_for(self, data: Data) -> Data:
        """The data this model trains on, given the chapter's."""
        if self.prepare is None:
            return data
        cached = _PREPARED.get((id(self.prepare), id(data)))
        if cached is None or cached[0] is not data:
            cached = (data, self.prepare(data))
            _PREPARED[(id(self.prepare), id(data))] = cached
        return cached[1]

    def spec(self, data: Data) -> ModelSpec:
        """What ``train_model`` would train for this request given the chapter's ``data``,
        with its cache key."""
        return model_spec(self.kind, self.data_for(data), seed=self.seed,
                          train_options=self.train_options, **self.model_options)


_PREPARED: dict = {}  # (prepare, chapter data) -> (chapter data, prepared data)


def want(kind: str, *, label: str | None = None, seed: int = 0,
         train_options: dict | None = None, prepare: Callable[[Data], Data] | None = None,
         **model_options) -> Request:
    """A :class:`Request`, written like the ``train_model`` call it stands for:
    ``want("lstm", train_options={"teacher_forcing": 1.0})``."""
    return Request(kind, label, seed, dict(train_options or {}), dict(model_options), prepare)


def _reverse_data(data: Data) -> Data:
    from seq2code import rerank  # chapter 9's module

    return rerank.reverse_data(data)


# Chapter 9's regularised copy model (its cells define the same: a test compares them):
# dropout p and the weight average's decay d, then label smoothing eps, three seeds.
CH9_DROPOUT, CH9_DECAY, CH9_SEEDS = 0.3, 0.999, (0, 1, 2)
CH9_SMOOTHING = 0.1
_CH9 = {"dropout": CH9_DROPOUT, "train_options": {"average_decay": CH9_DECAY}}
_CH9_SMOOTHED = {"dropout": CH9_DROPOUT,
                 "train_options": {"average_decay": CH9_DECAY, "label_smoothing": CH9_SMOOTHING}}


# The models each chapter trains (or reads from the cache), as its cells ask train_model.
CHAPTERS: dict[int, tuple[Request, ...]] = {
    2: (want("rnn"), want("rnn", label="rnn, per-sequence coins",
                          train_options={"tf_mode": "sequence"})),
    3: (want("rnn"), want("lstm"),
        want("lstm", label="lstm, teacher forcing 0", train_options={"teacher_forcing": 0.0}),
        want("lstm", label="lstm, teacher forcing 1", train_options={"teacher_forcing": 1.0})),
    4: (want("rnn"), want("lstm"), want("attention")),
    5: (want("rnn"), want("lstm"), want("attention")),
    6: (want("attention"), want("bidirectional")),
    7: (want("attention"), want("copy"), want("coverage")),
    8: (want("rnn"), want("lstm"), want("attention"), want("bidirectional"), want("copy"),
        want("coverage"), want("multihead"),
        want("transformer", train_options={"teacher_forcing": 1.0})),
    # The final configuration is decided on dev as the chapter runs; planned: the one that
    # keeps dropout, the average and label smoothing (if dev drops one, models of the same
    # size and work train in their place, and one more when dev drops dropout or the
    # average: the same without label smoothing, to compare it with).
    9: (want("copy"),
        want("copy", label="copy, dropout + average, seed 0", **_CH9),
        want("copy", label="copy, + label smoothing, seed 0", **_CH9_SMOOTHED),
        *(want("copy", label=f"copy, final configuration*, seed {seed}", seed=seed,
               **_CH9_SMOOTHED) for seed in CH9_SEEDS[1:]),
        want("copy", label="reverse copy (code to English), dropout + average*",
             prepare=_reverse_data, canonical=False, **_CH9)),
}


@dataclass
class Estimate:
    """One model of a plan.

    Attributes:
        request: what the chapter asked for.
        spec: what ``train_model`` trains for it, with its cache key.
        cached: True when the model cache already holds it (nothing to train).
        epochs: the epochs it trains at most.
        early_stop: the training's early stopping (None: every epoch runs).
        batches: training batches per epoch; ``dev_batches``: dev batches per evaluation.
        step_seconds: the mean time of one timed training step on this runtime.
        train_seconds: one epoch's training steps (the timed steps scaled to every batch by
            its target width: :func:`_epoch_seconds`).
        dev_seconds: one epoch's evaluation on dev (loss and greedy decoding; twice with an
            average of the weights: the average's and the model's own).
        train_flops: floating-point operations of one epoch's training steps (forward and
            backward, as ``FlopCounterMode`` counts them); ``dev_flops``: of one evaluation.
        timed_steps: how many training steps were timed (0 for a cached model).
    """

    request: Request
    spec: ModelSpec
    cached: bool
    epochs: int
    early_stop: int | None
    batches: int = 0
    dev_batches: int = 0
    step_seconds: float = 0.0
    train_seconds: float = 0.0
    dev_seconds: float = 0.0
    train_flops: float = 0.0
    dev_flops: float = 0.0
    timed_steps: int = 0

    @property
    def flops(self) -> float:
        """Floating-point operations of one epoch with its dev evaluation."""
        return self.train_flops + self.dev_flops

    @property
    def epoch_seconds(self) -> float:
        return self.train_seconds + self.dev_seconds

    @property
    def seconds(self) -> float:
        """Seconds to train it here (0 when cached): every epoch, so an upper bound with
        early stopping."""
        return 0.0 if self.cached else self.epoch_seconds * self.epochs

    def t4_seconds(self, epochs: int | None = None) -> float:
        """Seconds on a Colab T4 (assumed throughput :data:`T4_ASSUMED_TFLOPS`)."""
        epochs = self.epochs if epochs is None else epochs
        return self.flops * epochs / (T4_ASSUMED_TFLOPS * 1e12)


@dataclass
class Plan:
    """What a chapter trains, which models the cache holds, and the minutes of the rest.

    ``print(plan)`` writes it as a short table and a paragraph (:meth:`text`).
    """

    profile: Profile
    device: str
    threads: int
    estimates: list[Estimate]
    device_name: str | None = None

    @property
    def to_train(self) -> list[Estimate]:
        return [e for e in self.estimates if not e.cached]

    @property
    def seconds(self) -> float:
        """Seconds to train what the cache lacks, on this runtime (an upper bound with early
        stopping)."""
        return sum(e.seconds for e in self.estimates)

    def t4_seconds(self, profile: Profile | None = None) -> float:
        """Seconds to train what the cache lacks on a Colab T4 (an estimate under an
        assumption, see :data:`T4_ASSUMED_TFLOPS`), in ``profile`` (default: the plan's; only
        a profile with the same epochs as the plan's, see :meth:`other_profiles`)."""
        return sum(e.t4_seconds(self._epochs(e, profile)) for e in self.to_train)

    def _epochs(self, estimate: Estimate, profile: Profile | None) -> int:
        if profile is None:
            return estimate.epochs
        return estimate.request.train_options.get("epochs", profile.epochs)

    def other_profiles(self) -> dict[str, float]:
        """Seconds here for the models to train in every other profile whose epochs are
        this profile's epochs (:data:`EPOCH_FIELDS` equal): only the number of epochs
        differs, so the measured epochs scale."""
        mine = {name: getattr(self.profile, name) for name in EPOCH_FIELDS}
        return {name: sum(e.epoch_seconds * self._epochs(e, other) for e in self.to_train)
                for name, other in PROFILES.items()
                if name != self.profile.name
                and {n: getattr(other, n) for n in EPOCH_FIELDS} == mine}

    def text(self) -> str:
        """The plan as a few lines: one per model, then the total here and on a T4."""
        if not self.estimates:
            return "This chapter trains no model."
        names = [e.request.name for e in self.estimates]
        width = max(len(n) for n in names + ["model"])
        upto = "up to " if any(e.early_stop for e in self.to_train) else ""
        where = (f"CPU ({self.threads} thread{'s' if self.threads != 1 else ''})"
                 if self.device == "cpu" else f"GPU ({self.device_name or self.device})")
        lines = [f"Training plan: {len(self.estimates)} model"
                 f"{'s' if len(self.estimates) != 1 else ''}, run profile {self.profile.name},"
                 f" on this runtime's {where}.",
                 f"  {'model':<{width}}  {'model cache':<12}  estimate here"]
        for name, e in zip(names, self.estimates, strict=True):
            if e.cached:
                lines.append(f"  {name:<{width}}  {'cached':<12}  read from the cache, no "
                             "training")
            else:
                lines.append(
                    f"  {name:<{width}}  {'to train':<12}  {_minutes(e.seconds)} "
                    f"({upto}{e.epochs} epoch{'s' if e.epochs != 1 else ''} of "
                    f"{e.batches} batches, {_seconds(e.epoch_seconds)} each with dev "
                    "evaluation)")
        if not self.to_train:
            lines.append("Every model is in the model cache: nothing to train.")
            return "\n".join(lines)
        steps = self.to_train[0].timed_steps
        lines.append(
            f"To train: {len(self.to_train)} model{'s' if len(self.to_train) != 1 else ''}, "
            f"{upto}{_minutes(self.seconds)} on this runtime (measured: {steps} timed "
            f"training step{'s' if steps != 1 else ''} per model on this chapter's data, and a "
            "few dev batches decoded).")
        if self.device == "cpu":
            lines.append(
                f"On a Colab T4 GPU: {_minutes(self.t4_seconds())} (an estimate from "
                f"the floating-point work, assuming the T4 reaches {T4_ASSUMED_TFLOPS:.2f} "
                f"TFLOP/s, 1/16 of its peak: not measured).")
        if any("*" in name for name in names):
            lines.append("* chosen on dev as the chapter runs; planned as dropout + average "
                         "+ label smoothing (if dev drops one, models of the same size train "
                         "instead, and one more if it drops dropout or the average).")
        others = self.other_profiles()
        if others:
            lines.append("In another run profile, the models to train would take: " + "; ".join(
                f"{name} {'up to ' if PROFILES[name].early_stop else ''}"
                f"{_minutes(seconds)} here" for name, seconds in others.items()) + ".")
        if on_colab() and self.device == "cpu":
            lines.append(cpu_runtime_notice(self.seconds, self.t4_seconds()))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def _minutes(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    minutes = seconds / 60
    return f"about {minutes:.0f} minute{'s' if round(minutes) != 1 else ''}"


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _spread(batches: list[Batch], k: int) -> list[Batch]:
    """``k`` batches at evenly spaced ranks of their target length (a stratified sample:
    short, middling and long batches in their share)."""
    ranked = sorted(batches, key=lambda b: (b.tgt.size(1), b.src.size(1)))
    if len(ranked) <= k:
        return ranked
    return [ranked[round((i + 0.5) * len(ranked) / k - 0.5)] for i in range(k)]


def _epoch_seconds(seconds: Sequence[float], sample_steps: Sequence[int],
                   all_steps: Sequence[int]) -> float:
    """An epoch's training time from steps timed on a sample of its batches.

    A step's time grows with its batch's target width ``T`` (the decoder's loop runs ``T``
    times): the least-squares line ``seconds ~ a + b T`` through the timed sample, summed over
    every batch, ``n (mean seconds + b (mean T of all - mean T of the sample)``. The longest
    batches, which an evenly spaced sample of a few misses, weigh in at their share. Measured
    against a whole epoch of steps in the cpu profile (one thread, 2-core CPU, load 3): the
    plain mean of five timed steps gave 8 to 32% less, this line 13% less to 13% more. With
    no spread in the sample's widths, or a slope below zero (noise), the plain mean.
    """
    if not seconds:
        return 0.0
    n, k = len(all_steps), len(seconds)
    mean_t, mean_s = sum(sample_steps) / k, sum(seconds) / k
    var = sum((w - mean_t) ** 2 for w in sample_steps)
    slope = (sum((w - mean_t) * (x - mean_s) for w, x in zip(sample_steps, seconds, strict=True))
             / var if var > 0 else 0.0)  # b, seconds per step of T
    return n * (mean_s + max(slope, 0.0) * (sum(all_steps) / n - mean_t))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def _evaluate(model, batches: list[Batch], max_len: int, device: torch.device) -> None:
    """What training runs on dev after each epoch: the teacher-forced loss, then greedy
    decoding. A trained model stops near the reference's length, an untrained one runs to
    the limit: each batch is decoded for its longest reference's length (at most
    ``max_len``), as a trained model would be."""
    training.evaluate_loss(model, batches, device)
    with evaluating(model):
        for batch in batches:
            steps = min(max_len, batch.tgt.size(1) - 1)
            decoding.greedy_decode(model, batch.src.to(device), batch.src_lens.to(device),
                                   steps)


def estimate(request: Request, data: Data, *, device: torch.device | str | None = None,
             steps: int = 5, dev_steps: int = 2, measure_cached: bool = False,
             timed: bool = True) -> Estimate:
    """The :class:`Estimate` of one request: whether the cache holds it and, if not (or with
    ``measure_cached``), a short timed run on ``device`` (``timed=False``: the counted
    step and dev batch only, no times).

    The timed run builds the model as ``train_model`` does, makes the first epoch's batches,
    runs one untimed training step on the batch of median length (its floating-point
    operations counted), then ``steps`` timed steps on batches spread over the range of
    lengths, then the dev evaluation: one counted and ``dev_steps`` timed dev batches. The
    global random state is left as it was.
    """
    spec = request.spec(data)
    data = request.data_for(data)
    config = spec.train_config
    result = Estimate(request, spec, spec.cached_path().is_file(), config.epochs,
                      config.early_stop)
    if result.cached and not measure_cached:
        return result
    device = torch.device(device) if device is not None else default_device()
    if torch.get_num_threads() > available_cpus():  # as train_model does
        configure_threads()
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(config.seed)
        model = models.build_model(request.kind, len(data.src_vocab), len(data.tgt_vocab),
                                   **spec.model_options).to(device)
        train_pairs = model_pairs(model, data, "train")
        dev_pairs = model_pairs(model, data, "dev")
        batches = make_batches(train_pairs, config.batch_size, shuffle=True,
                               by_length=config.by_length, seed=config.seed)
        dev_batches = make_batches(dev_pairs, config.batch_size, shuffle=False,
                                   by_length=config.by_length)
        optimizer = training.make_optimizer(model, config.lr)
        coins = torch.Generator().manual_seed(config.seed)
        average = (WeightAverage(model, config.average_decay)
                   if config.average_decay is not None else None)  # as train() keeps it

        def step(batch: Batch) -> None:  # train()'s step, with its smoothing and average
            training.train_step(model, optimizer, batch.to(device),
                                teacher_forcing=config.teacher_forcing,
                                tf_mode=config.tf_mode, clip=config.clip, generator=coins,
                                label_smoothing=config.label_smoothing or 0.0)
            if average is not None:
                average.update()

        first = _spread(batches, 1)[0]  # the batch of median length
        with FlopCounterMode(display=False) as counter:  # also the warm-up step
            step(first)
        train_flops = counter.get_total_flops() / first.n_target_tokens * sum(
            b.n_target_tokens for b in batches)
        sample = _spread(batches, max(steps, 1)) if timed else []
        seconds = []  # [k] of each timed step
        for batch in sample:
            _synchronize(device)
            started = time.perf_counter()
            step(batch)
            _synchronize(device)
            seconds.append(time.perf_counter() - started)
        result.step_seconds = sum(seconds) / max(len(seconds), 1)

        dev_first = _spread(dev_batches, 1)[0]
        with FlopCounterMode(display=False) as counter:
            _evaluate(model, [dev_first], config.max_decode_len, device)
        dev_flops = counter.get_total_flops() * len(dev_batches)
        dev_timed = _spread(dev_batches, max(dev_steps, 1)) if timed else []
        _synchronize(device)
        started = time.perf_counter()
        _evaluate(model, dev_timed, config.max_decode_len, device)
        _synchronize(device)
        dev_batch_seconds = (time.perf_counter() - started) / max(len(dev_timed), 1)
    result.batches, result.dev_batches = len(batches), len(dev_batches)
    result.train_seconds = _epoch_seconds(seconds, [b.tgt.size(1) for b in sample],
                                          [b.tgt.size(1) for b in batches])
    evaluations = 1 if average is None else 2  # with an average: its weights and the model's
    result.dev_seconds = evaluations * dev_batch_seconds * len(dev_batches)
    result.train_flops, result.dev_flops = train_flops, evaluations * dev_flops
    result.timed_steps = len(sample)
    return result


def plan_training(requests: Sequence[Request | str], data: Data, *,
                  device: torch.device | str | None = None, steps: int = 5,
                  dev_steps: int = 2, measure_cached: bool = False,
                  timed: bool = True) -> Plan:
    """The plan of a chapter: each requested model (a :class:`Request` or a kind's name),
    whether the model cache holds it, and the minutes of those it does not on ``device``
    (default: where ``train_model`` trains). A model asked for twice appears once."""
    device = torch.device(device) if device is not None else default_device()
    seen, estimates = set(), []
    for request in requests:
        request = want(request) if isinstance(request, str) else request
        path = request.spec(data).cached_path()
        if path in seen:
            continue
        seen.add(path)
        estimates.append(estimate(request, data, device=device, steps=steps,
                                  dev_steps=dev_steps, measure_cached=measure_cached,
                                  timed=timed))
    threads = torch.get_num_threads() if device.type == "cpu" else 1
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return Plan(data.profile, device.type, threads, estimates, name)


def model_file_bytes(request: Request | str, data: Data, epochs: int | None = None) -> int:
    """The size in bytes of the model cache's file of ``request`` trained on ``data`` for
    ``epochs`` epochs (default: its training's maximum), measured by writing a file of the
    same contents as training's ``best.pt`` (weights, vocabularies, configuration, the
    history of every epoch and batch) with an untrained model of the same size."""
    request = want(request) if isinstance(request, str) else request
    spec = request.spec(data)
    data = request.data_for(data)
    config = spec.train_config
    epochs = config.epochs if epochs is None else epochs
    model = models.build_model(request.kind, len(data.src_vocab), len(data.tgt_vocab),
                               **spec.model_options)
    batches = len(make_batches(model_pairs(model, data, "train"), config.batch_size,
                               shuffle=True, by_length=config.by_length, seed=config.seed))
    per_epoch = [0.5] * epochs
    lists = ["train_loss", "dev_loss", "dev_exact_match", "lr", "epoch_seconds",
             "train_tokens_per_second"]
    if getattr(config, "average_decay", None) is not None:  # the weights' own dev scores too
        lists += ["dev_loss_raw", "dev_exact_match_raw"]
    history = training.History(**dict.fromkeys(lists, per_epoch),
                               batch_loss=[0.5] * (batches * epochs), best_epoch=epochs - 1,
                               threads=1, load_1m=0.5)
    payload = {"src_vocab": data.src_vocab.to_dict(), "tgt_vocab": data.tgt_vocab.to_dict(),
               "profile": data.profile.to_dict(), "data": data.info(), "seed": request.seed,
               "model_options": spec.model_options, "format": checkpoint.FORMAT,
               "kind": model.kind, "model_config": model.config,
               "train_config": config.to_dict(), "state_dict": model.state_dict(),
               "history": history.to_dict(), "epoch": epochs}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pt"
        checkpoint.save_checkpoint(path, payload)
        return path.stat().st_size


def course_requests() -> list[Request]:
    """Every model of the course once (the chapters' requests, first asking chapter's label)."""
    seen, found = set(), []
    for requests in CHAPTERS.values():
        for request in requests:
            key = (request.kind, request.seed, repr(sorted(request.train_options.items())),
                   repr(sorted(request.model_options.items())), request.prepare)
            if key not in seen:
                seen.add(key)
                found.append(request)
    return found


def t4_minutes_by_chapter(data: Data, profiles: Sequence[str] = ("cpu", "full"),
                          device: torch.device | str = "cpu") -> dict[int, dict[str, float]]:
    """Each chapter's minutes on a Colab T4 on a fresh runtime (nothing in the cache), in each
    of ``profiles`` that trains the epochs of ``data.profile`` (:data:`EPOCH_FIELDS`), from
    the floating-point work under the assumption :data:`T4_ASSUMED_TFLOPS`.

    Floating-point counts do not depend on the machine: the same data give the same minutes
    everywhere (the timing that the plan also runs is not used here)."""
    plan = plan_training(course_requests(), data, device=device, measure_cached=True,
                         timed=False)
    by_path = {e.spec.cached_path(): e for e in plan.estimates}
    mine = {name: getattr(data.profile, name) for name in EPOCH_FIELDS}
    result = {}
    for chapter, requests in CHAPTERS.items():
        result[chapter] = {}
        for name in profiles:
            other = PROFILES[name]
            if {n: getattr(other, n) for n in EPOCH_FIELDS} != mine:
                raise ValueError(f"profile {name} trains other epochs than {data.profile.name}")
            paths = {request.spec(data).cached_path() for request in requests}
            result[chapter][name] = sum(by_path[path].t4_seconds(plan._epochs(by_path[path],
                                                                              other))
                                        for path in paths) / 60
    return result
