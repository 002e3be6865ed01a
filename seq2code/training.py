"""The course's training strategy, the same for every model.

Cross-entropy over the real target tokens (``ignore_index=<pad>``), Adam, ReduceLROnPlateau on
the dev loss, teacher forcing with probability 0.5 decided per time step, gradient clipping at
norm 1.0; after every epoch the dev loss and the dev exact match of greedy decoding, a
``last.pt`` to resume from and, when dev exact match improves, a ``best.pt`` (optionally of
an exponential moving average of the weights, chapter 9). On CPU the same
seed gives the same history, and a run resumed from ``last.pt`` ends exactly where an
uninterrupted run does.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from seq2code.averaging import WeightAverage
from seq2code.batching import Batch, Pair, make_batches
from seq2code.checkpoint import FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from seq2code.decoding import greedy_decode
from seq2code.models.base import TF_MODES, Seq2Seq, evaluating
from seq2code.profiles import default_device
from seq2code.threads import threads_report
from seq2code.vocab import PAD_ID, UNK_ID

_LATER_FIELDS = ("average_decay", "label_smoothing", "max_minutes")  # written only when set


@dataclass
class TrainConfig:
    """How to train (the course's strategy; every field can be changed).

    Attributes:
        epochs: passes over the training pairs.
        batch_size: pairs per batch.
        lr: Adam's learning rate.
        teacher_forcing: probability of feeding the gold previous token.
        tf_mode: ``"step"`` (one coin per time step, for the whole batch) or ``"sequence"``
            (one coin per sequence).
        clip: maximum gradient norm (0 or less: no clipping).
        plateau_factor: ReduceLROnPlateau's factor on the learning rate.
        plateau_patience: epochs without a lower dev loss before the rate drops.
        seed: seeds the random state, the teacher-forcing coins and the batch order.
        max_decode_len: greedy decoding's length limit for dev exact match.
        by_length: batch by source length (less padding, faster).
        early_stop: stop when dev exact match has not improved for this many epochs (the
            best epoch's weights are kept either way); None runs every epoch.
        average_decay: keep an exponential moving average of the weights with this decay
            ``d`` (:class:`seq2code.averaging.WeightAverage`) and evaluate, select and save
            the average instead of the weights (chapter 9); None: no average.
        label_smoothing: train against ``(1 - eps)`` on the gold token and ``eps`` spread
            evenly over the output vocabulary (:meth:`~seq2code.models.base.Seq2Seq.loss`,
            chapter 9); None: the plain cross-entropy. Dev loss stays the plain one.
        max_minutes: a time budget: no epoch starts that would, at the last epoch's pace,
            end after this many minutes of training (dev evaluation included); the best epoch
            so far is kept as always. None: no budget.
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    teacher_forcing: float = 0.5
    tf_mode: str = "step"
    clip: float = 1.0
    plateau_factor: float = 0.5
    plateau_patience: int = 1
    seed: int = 0
    max_decode_len: int = 100
    by_length: bool = True
    early_stop: int | None = None
    average_decay: float | None = None
    label_smoothing: float | None = None
    max_minutes: float | None = None

    def __post_init__(self):
        if self.tf_mode not in TF_MODES:
            raise ValueError(f"tf_mode must be one of {TF_MODES}, got {self.tf_mode!r}")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must lie in [0, 1], got {self.teacher_forcing}")
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError("epochs must be >= 0 and batch_size >= 1")
        if self.early_stop is not None and self.early_stop < 1:
            raise ValueError(f"early_stop must be None or >= 1, got {self.early_stop}")
        if self.average_decay is not None and not 0.0 < self.average_decay < 1.0:
            raise ValueError(f"average_decay must be None or lie in (0, 1), got "
                             f"{self.average_decay}")
        if self.label_smoothing is not None and not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be None or lie in [0, 1), got "
                             f"{self.label_smoothing}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be None or positive, got {self.max_minutes}")

    def to_dict(self) -> dict:
        """The fields as plain data; a field added after the first checkpoints
        (``average_decay``, ``label_smoothing``, ``max_minutes``) only when set, so that cache
        keys and checkpoints of runs without it read as they did."""
        state = asdict(self)
        for name in _LATER_FIELDS:
            if state[name] is None:
                del state[name]
        return state

    @classmethod
    def from_dict(cls, state: dict) -> TrainConfig:
        return cls(**state)


@dataclass
class History:
    """What happened during training, for the plots.

    Per epoch (lists of one value per epoch): ``train_loss`` (mean cross-entropy per target
    token), ``dev_loss`` (the same on dev, teacher forcing 1.0), ``dev_exact_match`` (share of
    dev examples whose greedy decoding equals the reference's ids exactly; a reference holding
    ``<unk>`` never matches), ``lr`` (the learning rate used in the epoch), ``epoch_seconds``,
    ``train_tokens_per_second``. Per batch: ``batch_loss``. ``best_epoch``: index (from 0) of
    the epoch whose weights ``best.pt`` holds. ``threads`` and ``load_1m``: torch's thread
    count and the machine's 1-minute load when training started (what the times depend on).
    With a weight average (``TrainConfig.average_decay``), ``dev_loss`` and ``dev_exact_match``
    are the average's, and ``dev_loss_raw`` and ``dev_exact_match_raw`` those of the weights
    themselves (empty without an average).
    """

    train_loss: list[float] = field(default_factory=list)
    dev_loss: list[float] = field(default_factory=list)
    dev_exact_match: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    train_tokens_per_second: list[float] = field(default_factory=list)
    batch_loss: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    threads: int | None = None
    load_1m: float | None = None
    dev_loss_raw: list[float] = field(default_factory=list)
    dev_exact_match_raw: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict) -> History:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in state.items() if k in names})


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor,
                  reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of ``logits`` ``[B, T, V]`` against ``targets`` ``[B, T]`` (``y_1 .. <eos>``),
    ignoring ``<pad>``: ``-mean log p(y_t)`` over the real target tokens (or their sum)."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                                       ignore_index=PAD_ID, reduction=reduction)


@torch.no_grad()
def evaluate_loss(model: Seq2Seq, batches: list[Batch], device: torch.device) -> float:
    """Mean cross-entropy per real target token over ``batches``, with teacher forcing 1.0
    (in eval mode; the model is left in the mode it had)."""
    total, tokens = 0.0, 0
    with evaluating(model):
        for batch in batches:
            n = batch.n_target_tokens
            batch = batch.to(device)
            # the mean over the batch's real tokens (no auxiliary loss), times their count
            total += float(model.loss(batch.src, batch.src_lens, batch.tgt_in, batch.tgt_out,
                                      auxiliary=False)) * n
            tokens += n
    return total / max(tokens, 1)


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam over the model's parameters, fused into one kernel where PyTorch has one for the
    parameters' device (the same arithmetic as the plain loop, fewer passes over memory)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, ValueError):  # a device without a fused Adam
        return torch.optim.Adam(model.parameters(), lr=lr)


def train_step(model: Seq2Seq, optimizer: torch.optim.Optimizer, batch: Batch, *,
               teacher_forcing: float = 0.5, tf_mode: str = "step", clip: float = 1.0,
               generator: torch.Generator | None = None,
               label_smoothing: float = 0.0) -> torch.Tensor:
    """One step of the course's training on ``batch`` (already on the model's device).

    ``zero_grad``, the loss (:meth:`~seq2code.models.base.Seq2Seq.loss`: ``-mean log p(y_t)``
    over the real target tokens, teacher forcing ``teacher_forcing`` with the coins of
    ``generator``, smoothed by ``label_smoothing``), ``backward``, clipping of the gradient
    norm at ``clip`` (0: none) and the optimizer's ``step``. Returns the loss, detached (on the device: no synchronisation).
    The batch holds ``src`` ``[B, S]`` (the ids ``x_s``), ``src_lens`` ``[B]``, ``tgt_in``
    ``[B, T]`` (``<sos> y_1 .. y_{T-1}``) and ``tgt_out`` ``[B, T]`` (``y_1 .. y_T``).
    """
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = model.loss(batch.src, batch.src_lens, batch.tgt_in, batch.tgt_out,
                      teacher_forcing=teacher_forcing, tf_mode=tf_mode, generator=generator,
                      label_smoothing=label_smoothing)
    loss.backward()
    if clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.detach()


def exact_match(model: Seq2Seq, batches: list[Batch], pairs: list[Pair], max_len: int,
                device: torch.device) -> float:
    """Share of ``pairs`` whose greedy decoding equals the target ids exactly.

    A target holding ``<unk>`` never matches: the model cannot write the real token.
    """
    right = 0
    for batch in batches:
        result = greedy_decode(model, batch.src.to(device), batch.src_lens.to(device), max_len)
        for index, tokens in zip(batch.indices, result.tokens, strict=True):
            reference = pairs[index][1][1:-1]  # without <sos> and <eos>
            right += tokens == reference and UNK_ID not in reference
    return right / max(len(pairs), 1)


def _is_better(exact: float, loss: float, best_exact: float, best_loss: float) -> bool:
    """Higher dev exact match wins; a tie goes to the lower dev loss."""
    return exact > best_exact or (exact == best_exact and loss < best_loss)


def train(model: Seq2Seq, train_pairs: list[Pair], dev_pairs: list[Pair], config: TrainConfig,
          *, device: torch.device | str | None = None, checkpoint_dir: str | Path | None = None,
          checkpoint_extra: dict | None = None, resume: bool = False,
          progress: bool = True) -> History:
    """Train ``model`` with the course's strategy; return its :class:`History`.

    Args:
        model: a :class:`~seq2code.models.base.Seq2Seq` (its weights are trained in place).
        train_pairs, dev_pairs: encoded pairs (:func:`seq2code.batching.encode_pairs`).
        config: the :class:`TrainConfig`.
        device: where to train (default: the GPU if there is one).
        checkpoint_dir: write ``last.pt`` after every epoch and ``best.pt`` whenever dev exact
            match improves (ties: lower dev loss) into this folder.
        checkpoint_extra: a plain dict stored in both (vocabularies as ``Vocab.to_dict()``
            under ``src_vocab`` / ``tgt_vocab``, profile, data information).
        resume: continue from ``checkpoint_dir/last.pt`` when it exists.
        progress: show a progress bar per epoch.

    Returns:
        The :class:`History`; the model then holds the best-on-dev weights.
    """
    device = torch.device(device) if device is not None else default_device()
    model.to(device)
    torch.manual_seed(config.seed)
    coins = torch.Generator().manual_seed(config.seed)  # the teacher-forcing coins
    optimizer = make_optimizer(model, config.lr)
    average = (WeightAverage(model, config.average_decay)
               if config.average_decay is not None else None)  # theta_bar, or none
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience)
    history = History()
    best = {"exact_match": -1.0, "loss": float("inf")}
    best_state = None
    start_epoch = 0
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    payload_base = {"src_vocab": None, "tgt_vocab": None, **(checkpoint_extra or {}),
                    "format": FORMAT, "kind": model.kind, "model_config": model.config,
                    "train_config": config.to_dict()}

    if resume and folder is not None and (folder / "last.pt").exists():
        last = load_checkpoint(folder / "last.pt", expected_kind=model.kind)
        _check_resumable(last, model, config)
        model.load_state_dict(last["state_dict"])
        optimizer.load_state_dict(last["optimizer"])
        scheduler.load_state_dict(last["scheduler"])
        if average is not None:
            average.load_state_dict(last["average"])
        history = History.from_dict(last["history"])
        best = dict(last["best"])
        start_epoch = last["epoch"]
        torch.set_rng_state(last["rng"]["torch"])
        coins.set_state(last["rng"]["teacher_forcing"])
        if torch.cuda.is_available() and last["rng"].get("cuda"):
            torch.cuda.set_rng_state_all(last["rng"]["cuda"])

    report = threads_report()
    history.threads, history.load_1m = report["threads"], report["load_1m"]
    dev_batches = make_batches(dev_pairs, config.batch_size, shuffle=False,
                               by_length=config.by_length)
    for epoch in range(start_epoch, config.epochs):
        if _stalled(history, config) or _out_of_time(history, config):
            break  # an early stop (perhaps before a resume), or the time budget is spent
        started = time.perf_counter()
        batches = make_batches(train_pairs, config.batch_size, shuffle=True,
                               by_length=config.by_length, seed=config.seed + epoch)
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        losses, counts = [], []  # per batch: loss (kept on the device: no sync), tokens
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
                   unit="batch")
        for i, batch in enumerate(bar):
            counts.append(batch.n_target_tokens)
            loss = train_step(model, optimizer, batch.to(device),
                              teacher_forcing=config.teacher_forcing, tf_mode=config.tf_mode,
                              clip=config.clip, generator=coins,
                              label_smoothing=config.label_smoothing or 0.0)
            losses.append(loss)
            if average is not None:
                average.update()
            if progress and i % 10 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        batch_losses = torch.stack(losses).tolist() if losses else []
        history.batch_loss.extend(batch_losses)
        tokens = sum(counts)
        total = sum(value * n for value, n in zip(batch_losses, counts, strict=True))
        train_seconds = time.perf_counter() - started

        dev_loss = evaluate_loss(model, dev_batches, device)
        scheduler.step(dev_loss)  # the weights' own dev loss: the average never steers training
        if average is None:
            dev_exact = exact_match(model, dev_batches, dev_pairs, config.max_decode_len, device)
        else:
            history.dev_loss_raw.append(dev_loss)
            history.dev_exact_match_raw.append(
                exact_match(model, dev_batches, dev_pairs, config.max_decode_len, device))
            with average.applied():
                dev_loss = evaluate_loss(model, dev_batches, device)
                dev_exact = exact_match(model, dev_batches, dev_pairs, config.max_decode_len,
                                        device)
        history.train_loss.append(total / max(tokens, 1))
        history.dev_loss.append(dev_loss)
        history.dev_exact_match.append(dev_exact)
        history.lr.append(lr)
        history.train_tokens_per_second.append(tokens / max(train_seconds, 1e-9))
        history.epoch_seconds.append(time.perf_counter() - started)
        bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", dev_loss=f"{dev_loss:.3f}",
                        dev_exact=f"{dev_exact:.1%}")
        bar.close()

        if _is_better(dev_exact, dev_loss, best["exact_match"], best["loss"]):
            best = {"exact_match": dev_exact, "loss": dev_loss}
            history.best_epoch = epoch
            with average.applied() if average is not None else nullcontext():
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if folder is not None:
                save_checkpoint(folder / "best.pt", {
                    **payload_base, "state_dict": best_state,
                    "history": history.to_dict(), "epoch": epoch + 1})
        if folder is not None:
            save_checkpoint(folder / "last.pt", {
                **payload_base, "state_dict": model.state_dict(), "history": history.to_dict(),
                "epoch": epoch + 1, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "best": best,
                "average": average.state_dict() if average is not None else None,
                "rng": {"torch": torch.get_rng_state(), "teacher_forcing": coins.get_state(),
                        "cuda": (torch.cuda.get_rng_state_all()
                                 if torch.cuda.is_available() else [])}})
        if _stalled(history, config):
            break

    if folder is not None and (folder / "best.pt").exists():
        stored = load_checkpoint(folder / "best.pt")
        if best_state is None:
            best_state = stored["state_dict"]  # resumed after the best
        if len(stored["history"]["dev_exact_match"]) != len(history.dev_exact_match):
            # best.pt was written at its epoch: give it the whole run's history, so that its
            # plots and "epoch k of n" see every epoch (best_epoch still names its weights)
            save_checkpoint(folder / "best.pt", {**stored, "history": history.to_dict()})
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def _stalled(history: History, config: TrainConfig) -> bool:
    """True when early stopping is on and the last ``config.early_stop`` epochs did not
    improve on the best dev exact match."""
    epochs_run = len(history.dev_exact_match)
    return (config.early_stop is not None and history.best_epoch is not None
            and epochs_run - 1 - history.best_epoch >= config.early_stop)


def _out_of_time(history: History, config: TrainConfig) -> bool:
    """True when a time budget is set and one more epoch at the last epoch's pace would end
    after it (every epoch run so far counts, those before a resume too)."""
    if config.max_minutes is None or not history.epoch_seconds:
        return False
    spent = sum(history.epoch_seconds)
    return spent + history.epoch_seconds[-1] > 60 * config.max_minutes


def _check_resumable(last: dict, model: Seq2Seq, config: TrainConfig) -> None:
    """Refuse to resume a run of another model or of another training configuration (the
    number of epochs, the early stopping and the time budget may change: they say when to stop, not how)."""
    if last["model_config"] != model.config:
        raise CheckpointError("last.pt holds another model configuration: train into a new "
                              "folder or resume with the same model")
    free = ("epochs", "early_stop", "max_minutes")
    saved = {k: v for k, v in TrainConfig.from_dict(last["train_config"]).to_dict().items()
             if k not in free}  # from_dict: a checkpoint older than a field gets its default
    wanted = {k: v for k, v in config.to_dict().items() if k not in free}
    if saved != wanted:
        raise CheckpointError("last.pt was trained with another configuration: train into a "
                              "new folder or resume with the same configuration")
