"""The glue that the chapters and the command line call: data, training with the model cache,
translation and evaluation.

A chapter needs four lines::

    data = prepare_data()                       # the profile's cut of Django, vocabularies
    trained = train_model("rnn", data=data)     # trained once, then read from the cache
    report = evaluate_model(trained, data.dev)  # metrics and per-example predictions
    translate(trained, ["return the value of x"])

Trained models are cached on disk (:mod:`seq2code.cache`) under a key of their whole
configuration (kind, model options, training configuration, profile, data digest, seed), so
that a later chapter reuses an earlier chapter's model instead of training it again.

The models are trained on raw code tokens; canonical exact match (string literals that the
English names put behind placeholders) is computed at evaluation time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from seq2code import cache, checkpoint, decoding, models, training
from seq2code.batching import Pair, encode_pairs, pad
from seq2code.beam import beam_search
from seq2code.data import Example, load_django
from seq2code.metrics import evaluate_predictions
from seq2code.profiles import Profile, default_device, get_profile
from seq2code.threads import available_cpus, configure_threads
from seq2code.tokens import tokenize_code, tokenize_nl, untokenize_code
from seq2code.vocab import Vocab

SPLITS = ("train", "dev", "test")


def resolve_profile(profile: Profile | dict | str | None) -> Profile:
    """A :class:`Profile` from a profile, its ``to_dict()`` (as a checkpoint stores it), a
    profile name, or ``None`` (``$SEQ2CODE_PROFILE``)."""
    if isinstance(profile, Profile):
        return profile
    if isinstance(profile, dict):
        return Profile(**profile)
    return get_profile(profile)


def cut_splits(splits: dict[str, list[Example]], profile: Profile) -> dict[str, list[Example]]:
    """The first ``profile.<split>_size`` examples of each split (all of it for ``None``)."""
    sizes = {"train": profile.train_size, "dev": profile.dev_size, "test": profile.test_size}
    return {name: list(splits[name][: sizes[name]]) for name in SPLITS}


def load_split(split: str, profile: Profile | dict | str | None = None,
               data_dir: str | Path | None = None) -> list[Example]:
    """One split of Django, cut to the profile's size (for evaluation without retraining)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    return cut_splits(load_django(data_dir), resolve_profile(profile))[split]


@dataclass
class Data:
    """A profile's cut of Django, tokenised, with vocabularies and encoded pairs.

    Attributes:
        profile: the run profile that fixed the sizes.
        train, dev, test: the examples, the first N of each split.
        nl_tokens: per split, the English token lists (:func:`tokenize_nl`).
        code_tokens: per split, the code token lists (:func:`tokenize_code`).
        src_vocab: English vocabulary, built on the cut train split with ``profile.min_freq``.
        tgt_vocab: code vocabulary, built the same way.
        pairs: per split, the encoded ``(source ids, <sos> target ids <eos>)`` pairs, cut to
            the profile's ``max_src_len`` / ``max_tgt_len``.
    """

    profile: Profile
    train: list[Example]
    dev: list[Example]
    test: list[Example]
    nl_tokens: dict[str, list[list[str]]]
    code_tokens: dict[str, list[list[str]]]
    src_vocab: Vocab
    tgt_vocab: Vocab
    pairs: dict[str, list[Pair]]
    _digest: str | None = field(default=None, repr=False)

    def split(self, name: str) -> list[Example]:
        """The examples of split ``name``."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}: choose one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def digest(self) -> str:
        """SHA-256 of every token list and both vocabularies: changes when the data, its cut
        or the tokenisation change (part of the model cache's key)."""
        if self._digest is None:
            content = json.dumps([self.nl_tokens, self.code_tokens, self.src_vocab.itos,
                                  self.tgt_vocab.itos], sort_keys=True)
            self._digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
        return self._digest

    def info(self) -> dict:
        """Sizes and digest, as stored in checkpoints and cache keys."""
        return {"sizes": {name: len(self.split(name)) for name in SPLITS},
                "src_vocab_size": len(self.src_vocab), "tgt_vocab_size": len(self.tgt_vocab),
                "digest": self.digest()}


def prepare_data(profile: Profile | dict | str | None = None,
                 data_dir: str | Path | None = None) -> Data:
    """Load Django, cut it to the profile, tokenise, build vocabularies and encode.

    Args:
        profile: a :class:`Profile`, its name, or ``None`` for ``$SEQ2CODE_PROFILE``.
        data_dir: a folder holding ``all.anno`` and ``all.code`` (default: ``$SEQ2CODE_DATA``
            or the download cache).

    Raises:
        seq2code.data.DataError: when the data cannot be found or fails its checks.
    """
    profile = resolve_profile(profile)
    splits = cut_splits(load_django(data_dir), profile)
    nl_tokens = {name: [tokenize_nl(ex.nl) for ex in splits[name]] for name in SPLITS}
    code_tokens = {name: [tokenize_code(ex.code) for ex in splits[name]] for name in SPLITS}
    src_vocab = Vocab.build(nl_tokens["train"], min_freq=profile.min_freq)
    tgt_vocab = Vocab.build(code_tokens["train"], min_freq=profile.min_freq)
    pairs = {name: encode_pairs(nl_tokens[name], code_tokens[name], src_vocab, tgt_vocab,
                                profile.max_src_len, profile.max_tgt_len)
             for name in SPLITS}
    return Data(profile, splits["train"], splits["dev"], splits["test"], nl_tokens,
                code_tokens, src_vocab, tgt_vocab, pairs)


@dataclass
class Trained:
    """A trained model with everything needed to use it again.

    Attributes:
        model: the :class:`seq2code.models.base.Seq2Seq`, in eval mode, best-on-dev weights.
        src_vocab, tgt_vocab: its vocabularies.
        history: the :class:`seq2code.training.History` of its training (the plots read it).
        checkpoint_path: the ``best.pt`` (or cache file) it was loaded from or saved to.
        config: ``kind``, ``model_config``, ``train_config``, ``profile``, ``data``, ``seed``.
        from_cache: True when it was read from the model cache instead of trained.
    """

    model: torch.nn.Module
    src_vocab: Vocab
    tgt_vocab: Vocab
    history: training.History | None
    checkpoint_path: Path | None
    config: dict
    from_cache: bool = False

    @property
    def kind(self) -> str:
        return self.config["kind"]

    @property
    def max_src_len(self) -> int | None:
        return (self.config.get("profile") or {}).get("max_src_len")

    @property
    def max_tgt_len(self) -> int:
        return (self.config.get("profile") or {}).get("max_tgt_len") or 100


def model_pairs(model: torch.nn.Module, data: Data, split: str) -> list[Pair]:
    """The pairs that ``model`` reads, cut to the profile's lengths
    (:meth:`~seq2code.models.base.Seq2Seq.encode_pairs`: ``data.pairs[split]`` for most kinds;
    packed source ids and extended target ids for a copy model, chapter 7)."""
    return model.encode_pairs(data.nl_tokens[split], data.code_tokens[split], data.src_vocab,
                              data.tgt_vocab, data.profile.max_src_len, data.profile.max_tgt_len)


def make_train_config(profile: Profile, seed: int = 0,
                      train_options: dict | None = None) -> training.TrainConfig:
    """The profile's :class:`~seq2code.training.TrainConfig` (epochs, batch size, decoding
    length), with ``train_options`` overriding any field."""
    options = {"epochs": profile.epochs, "batch_size": profile.batch_size, "seed": seed,
               "max_decode_len": profile.max_tgt_len, "early_stop": profile.early_stop}
    options.update(train_options or {})
    return training.TrainConfig(**options)


@dataclass(frozen=True)
class ModelSpec:
    """What :func:`train_model` trains for a request, and the model cache's key of it.

    Attributes:
        kind: the model kind.
        model_options: the options of :func:`~seq2code.models.build_model` (``emb_dim`` and
            ``hidden_dim`` filled in from the profile unless given).
        train_config: the :class:`~seq2code.training.TrainConfig` (the profile's, then the
            kind's training defaults, then the request's ``train_options``).
        key: the configuration that keys the model in :mod:`seq2code.cache` (kind, model
            options, training configuration, profile, data digest, seed).
    """

    kind: str
    model_options: dict
    train_config: training.TrainConfig
    key: dict

    def cached_path(self, root: Path | None = None) -> Path:
        """Where the model cache keeps (or will keep) this model."""
        return cache.cached_path(self.kind, self.key, root)


def model_spec(kind: str, data: Data, *, seed: int = 0, train_options: dict | None = None,
               **model_options) -> ModelSpec:
    """The model options, training configuration and cache key that :func:`train_model`
    uses for ``kind`` on ``data`` (the same arguments, without training anything)."""
    profile = data.profile
    model_options = {"emb_dim": profile.emb_dim, "hidden_dim": profile.hidden_dim,
                     **model_options}  # the profile's model size unless asked otherwise
    config = make_train_config(profile, seed, {**models.get_kind(kind).train_defaults,
                                               **(train_options or {})})
    key = {"kind": kind, "model_options": model_options, "train_config": config.to_dict(),
           "profile": profile.to_dict(), "data": data.info(), "seed": seed}
    return ModelSpec(kind, model_options, config, key)


def train_model(kind: str, profile: Profile | str | None = None, *, data: Data | None = None,
                seed: int = 0, use_cache: bool = True, progress: bool = True,
                train_options: dict | None = None, out_dir: str | Path | None = None,
                resume: bool = False, device: torch.device | str | None = None,
                **model_options) -> Trained:
    """Train a model of ``kind`` on the profile's data, or read it from the model cache.

    Args:
        kind: ``"rnn"``, ``"lstm"``, ``"attention"`` (see :func:`seq2code.models.build_model`).
        profile: the run profile (default ``$SEQ2CODE_PROFILE``); ignored when ``data`` is given.
        data: prepared data (default: :func:`prepare_data` of the profile).
        seed: seeds the weights and the training order.
        use_cache: read a model trained with the same configuration from the cache, or put
            the new one there. An interrupted training resumes from its last epoch.
        progress: show progress bars.
        train_options: fields of :class:`~seq2code.training.TrainConfig` that override the
            profile's (``{"epochs": 3, "teacher_forcing": 1.0}``).
        out_dir: train into this folder (``best.pt`` and ``last.pt``) instead of the cache.
        resume: with ``out_dir``, continue from ``out_dir/last.pt`` if it exists.
        device: where to train (default: the GPU if there is one).
        **model_options: passed to :func:`~seq2code.models.build_model` (``emb_dim`` and
            ``hidden_dim`` default to the profile's).

    Returns:
        A :class:`Trained` holding the model with its best-on-dev weights.
    """
    if torch.get_num_threads() > available_cpus():  # more threads than CPUs: they wait
        configure_threads()  # on each other; one per CPU this process may use
    data = data if data is not None else prepare_data(profile)
    profile = data.profile
    spec = model_spec(kind, data, seed=seed, train_options=train_options, **model_options)
    model_options, config, key = spec.model_options, spec.train_config, spec.key

    def run(checkpoint_dir: Path, resume_run: bool) -> None:
        torch.manual_seed(seed)
        model = models.build_model(kind, len(data.src_vocab), len(data.tgt_vocab),
                                   **model_options)
        extra = {"src_vocab": data.src_vocab.to_dict(), "tgt_vocab": data.tgt_vocab.to_dict(),
                 "profile": profile.to_dict(), "data": data.info(), "seed": seed,
                 "model_options": model_options}
        train_pairs, dev_pairs = model_pairs(model, data, "train"), model_pairs(model, data, "dev")
        training.train(model, train_pairs, dev_pairs, config, device=device,
                       checkpoint_dir=checkpoint_dir, checkpoint_extra=extra,
                       resume=resume_run, progress=progress)

    if out_dir is not None or not use_cache:
        if out_dir is None:
            raise ValueError("use_cache=False needs an out_dir to write the checkpoints to")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        run(out_dir, resume)
        return load_trained(out_dir / "best.pt", device=device)

    created = False

    def create(path: Path) -> None:
        nonlocal created
        # The run folder survives an interruption: the next call resumes from its last.pt.
        run_dir = path.parent / f"{path.name}.run"
        run_dir.mkdir(parents=True, exist_ok=True)
        run(run_dir, resume_run=True)
        partial = path.parent / f"{path.name}.partial"
        shutil.copyfile(run_dir / "best.pt", partial)
        os.replace(partial, path)  # atomic: the cache never holds a half-written file
        shutil.rmtree(run_dir, ignore_errors=True)
        created = True

    path = cache.get_or_create(kind, key, create)
    trained = load_trained(path, device=device)
    trained.from_cache = not created
    return trained


def load_trained(checkpoint_path: str | Path, expected_kind: str | None = None,
                 device: torch.device | str | None = None) -> Trained:
    """Read a checkpoint (``best.pt``, ``last.pt`` or a cache file) into a :class:`Trained`.

    Raises:
        seq2code.checkpoint.CheckpointError: missing, corrupt, not seq2code's, wrong kind.
    """
    checkpoint_path = Path(checkpoint_path)
    payload = checkpoint.load_checkpoint(checkpoint_path, expected_kind=expected_kind)
    model, src_vocab, tgt_vocab = checkpoint.model_from_checkpoint(payload)
    model.to(device if device is not None else default_device()).eval()
    history = training.History.from_dict(payload["history"]) if payload.get("history") else None
    config = {"kind": payload["kind"], "model_config": payload["model_config"],
              "train_config": payload.get("train_config"), "profile": payload.get("profile"),
              "data": payload.get("data"), "seed": payload.get("seed")}
    return Trained(model, src_vocab, tgt_vocab, history, checkpoint_path, config)


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _decode(trained: Trained, sources: Sequence[list[str]], max_len: int,
            batch_size: int = 128, beam: int = 1) -> list[list[str]]:
    """Decode English token lists (each non-empty, already cut) into code tokens: greedily,
    or with beam search of ``beam`` beams (chapter 6)."""
    model = trained.model
    out: list[list[str]] = []
    for start in range(0, len(sources), batch_size):
        views = [model.source_view(tokens) for tokens in sources[start:start + batch_size]]
        src, src_lens = pad([model.encode_source(view, trained.src_vocab, trained.tgt_vocab)
                             for view, _ in views])  # [B, S] ids x, [B]
        if beam > 1:
            result = beam_search(model, src, src_lens, beam, max_len)
        else:
            result = decoding.greedy_decode(model, src, src_lens, max_len)
        out.extend(model.output_tokens(row, view, mapping, trained.tgt_vocab)
                   for row, (view, mapping) in zip(result.tokens, views, strict=True))
    return out


def _cut_source(tokens: list[str], max_src_len: int | None) -> list[str]:
    return tokens[:max_src_len] if max_src_len else tokens


def translate(trained: Trained, texts: Sequence[str], max_len: int | None = None,
              beam: int = 1) -> list[str]:
    """Generate one line of Python for each English description (greedy decoding, or beam
    search with ``beam`` beams: :func:`seq2code.beam.beam_search`).

    Descriptions longer than the model's ``max_src_len`` tokens keep their first
    ``max_src_len`` tokens, with a warning that says so.

    Raises:
        ValueError: for a description with no tokens (empty or whitespace only).
    """
    if isinstance(texts, str):
        raise TypeError("translate() takes a list of descriptions, not one string")
    sources = []
    for i, text in enumerate(texts):
        tokens = tokenize_nl(text)
        if not tokens:
            raise ValueError(f"description {i + 1} is empty: give an English description")
        limit = trained.max_src_len
        if limit and len(tokens) > limit:
            warnings.warn(f"description {i + 1} has {len(tokens)} tokens: truncated to the first "
                          f"{limit} (the model's maximum input length)", stacklevel=2)
        sources.append(_cut_source(tokens, limit))
    if not sources:
        return []
    return [untokenize_code(code) for code in
            _decode(trained, sources, max_len or trained.max_tgt_len, beam=beam)]


@dataclass
class Report:
    """The evaluation of a model on a list of examples.

    Attributes:
        metrics: :func:`seq2code.metrics.evaluate_predictions` (``exact_match``,
            ``exact_match_canonical``, ``bleu``, ``parse_rate``, ``edit_distance``, ``n``,
            ``by_length``).
        predictions: one dict per example: ``index`` (line number in Django), ``nl``,
            ``reference``, ``prediction`` (code strings) and ``exact`` (raw token match).
    """

    metrics: dict
    predictions: list[dict]

    def samples(self, k: int = 5, *, exact: bool | None = None) -> list[dict]:
        """The first ``k`` predictions (only right or only wrong ones with ``exact``)."""
        rows = [p for p in self.predictions if exact is None or p["exact"] == exact]
        return rows[:k]


def _report_path(trained: Trained, examples: Sequence[Example], batch_size: int,
                 beam: int) -> Path | None:
    """Where the report of a model of the model cache on ``examples`` is kept:
    ``<cache>/reports/<model file>-<key>.json``; None for a model outside the cache.

    The key covers the model file (its name holds the key of the model's configuration; its
    size and time of writing tell a retrained file apart), the examples, the beam, the batch
    size and the device, everything that decides the predictions.
    """
    path = trained.checkpoint_path
    models_dir = cache.cache_dir() / "models"
    if path is None or not Path(path).is_file():
        return None
    if Path(path).parent.resolve() != models_dir.resolve():
        return None  # a run folder's best.pt: its name says nothing of its configuration
    stat = Path(path).stat()
    examples_digest = hashlib.sha256(json.dumps(
        [[ex.index, ex.nl, ex.code] for ex in examples]).encode("utf-8")).hexdigest()
    key = cache.config_key({"model": Path(path).name, "size": stat.st_size,
                            "written": stat.st_mtime_ns, "examples": examples_digest,
                            "beam": beam, "batch_size": batch_size,
                            "device": _device_of(trained.model).type})
    return cache.cache_dir() / "reports" / f"{Path(path).stem}-{key}.json"


def _read_report(path: Path | None) -> Report | None:
    if path is None or not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        return Report(stored["metrics"], stored["predictions"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: evaluate again and write it anew


def _write_report(path: Path, report: Report) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps({"metrics": report.metrics,
                                   "predictions": report.predictions}), encoding="utf-8")
    os.replace(partial, path)  # atomic: a reader never sees half a report


def evaluate_model(trained: Trained, examples: Sequence[Example], *,
                   batch_size: int = 128, beam: int = 1, use_cache: bool = True) -> Report:
    """Decode every example (greedily, or with beam search of ``beam`` beams) and score the
    predictions with the course's metrics.

    Over-long English inputs are cut to the model's ``max_src_len`` (as in training); the
    references are scored whole. An example whose English has no tokens predicts nothing.

    A model of the model cache (:func:`train_model`) keeps its reports there too, so that a
    later chapter that evaluates the same model on the same examples reads the report
    instead of decoding again; ``use_cache=False`` always decodes.
    """
    path = _report_path(trained, examples, batch_size, beam) if use_cache else None
    if (stored := _read_report(path)) is not None:
        return stored
    report = _evaluate(trained, examples, batch_size, beam)
    if path is not None:
        _write_report(path, report)
    return report


def _evaluate(trained: Trained, examples: Sequence[Example], batch_size: int,
              beam: int) -> Report:
    """:func:`evaluate_model` without the cache."""
    nl_tokens = [tokenize_nl(ex.nl) for ex in examples]
    ref_tokens = [tokenize_code(ex.code) for ex in examples]
    nonempty = [i for i, tokens in enumerate(nl_tokens) if tokens]
    decoded = _decode(trained, [_cut_source(nl_tokens[i], trained.max_src_len) for i in nonempty],
                      trained.max_tgt_len, batch_size, beam)
    hyp_tokens: list[list[str]] = [[] for _ in examples]
    for i, tokens in zip(nonempty, decoded, strict=True):
        hyp_tokens[i] = tokens
    metrics = evaluate_predictions(hyp_tokens, ref_tokens, nl_tokens)
    predictions = [{"index": ex.index, "nl": ex.nl, "reference": ex.code.strip(),
                    "prediction": untokenize_code(hyp), "exact": hyp == ref}
                   for ex, hyp, ref in zip(examples, hyp_tokens, ref_tokens, strict=True)]
    return Report(metrics, predictions)
