"""The command line: ``python -m seq2code train / evaluate / generate / bench``.

::

    python -m seq2code train --model rnn --profile ci --out runs/rnn
    python -m seq2code evaluate runs/rnn --split dev --json
    python -m seq2code generate runs/rnn "return the length of the list items"

Errors are one line on stderr, ``seq2code: error: ...``, and a non-zero exit status: 2 for
a wrong command line (unknown model kind, empty description, ``--beam`` below 1, a
``--timeout`` that is not a positive number), 1 for a failure while running (missing,
corrupt or foreign checkpoint, missing data). Never a traceback (``SEQ2CODE_DEBUG=1``
shows one for an unexpected error). Warnings, such as a description of which the model
knows no word, are one line each, ``seq2code: warning: ...``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Container
from pathlib import Path

from seq2code.kinds import KINDS

PROG = "seq2code"


class UsageError(Exception):
    """A command line that cannot be run as given (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, not the usage block and a line."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m seq2code``."""
    parser = _Parser(prog=PROG, description="Sequence-to-sequence models that write a line "
                     "of Python from an English description.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    train = commands.add_parser("train", help="train a model and write DIR/best.pt, DIR/last.pt")
    train.add_argument("--model", required=True, metavar="KIND",
                       help="model kind: " + ", ".join(KINDS))
    train.add_argument("--profile", choices=["ci", "cpu", "full"],
                       help="run profile (default: $SEQ2CODE_PROFILE, else cpu or full)")
    train.add_argument("--out", required=True, type=Path, metavar="DIR",
                       help="folder for the checkpoints")
    train.add_argument("--epochs", type=int, metavar="N", help="override the profile's epochs")
    train.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (0)")
    train.add_argument("--resume", action="store_true", help="continue from DIR/last.pt")
    train.add_argument("--dropout", type=float, metavar="P",
                       help="dropout on the embeddings (and, for the attention kinds, on the "
                       "encoder's states and the decoder's features; default 0)")
    train.add_argument("--average", type=float, metavar="D",
                       help="keep an exponential moving average of the weights with decay D "
                       "(e.g. 0.999) and select and save it (chapter 9; default: none)")
    train.add_argument("--label-smoothing", type=float, metavar="E",
                       help="spread E of each target over the output vocabulary, 1 - E on the "
                       "gold word (e.g. 0.1; chapter 9; default: none)")
    train.add_argument("--minutes", type=float, metavar="M",
                       help="time budget: start no epoch that would end after M minutes of "
                       "training at the last epoch's pace (default: none)")
    train.add_argument("--reverse", action="store_true",
                       help="train a reverse model (canonical code to English) for "
                       "`evaluate --rerank` (chapter 9)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")

    evaluate = commands.add_parser("evaluate", help="score a checkpoint on dev or test")
    evaluate.add_argument("checkpoint", type=Path, metavar="CHECKPOINT",
                          help="a checkpoint file, or the folder holding best.pt")
    evaluate.add_argument("--split", choices=["dev", "test"], default="dev",
                          help="the examples to score: dev, or test for the final numbers "
                          "(default: dev)")
    evaluate.add_argument("--beam", type=int, default=1, metavar="K",
                          help="beam search with k beams (1: greedy decoding, the default)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--model", metavar="KIND",
                          help="refuse a checkpoint of any other model kind")
    evaluate.add_argument("--rerank", type=Path, metavar="REVERSE",
                          help="rerank the beam with this reverse model (`train --reverse`): "
                          "the weights are tuned on dev, written to REVERSE/rerank.json, then "
                          "the split is scored (needs --beam 2 or more)")
    evaluate.add_argument("--ensemble", type=Path, nargs="+", metavar="CHECKPOINT",
                          help="with --rerank: other forward models of the same data (other "
                          "seeds) whose log P(Y | x) of the candidates is averaged in")

    generate = commands.add_parser("generate", help="write the code for a description")
    generate.add_argument("checkpoint", type=Path, metavar="CHECKPOINT",
                          help="a checkpoint file, or the folder holding best.pt")
    generate.add_argument("description", help="an English description, in quotes")
    generate.add_argument("--model", metavar="KIND",
                          help="refuse a checkpoint of any other model kind")
    generate.add_argument("--beam", type=int, default=1, metavar="K",
                          help="beam search with k beams (1: greedy decoding, the default)")
    generate.add_argument("--rerank", type=Path, metavar="REVERSE",
                          help="rerank the beam with this reverse model, with the weights that "
                          "`evaluate --rerank` tuned (REVERSE/rerank.json) or --weights")
    generate.add_argument("--weights", metavar="REV,LEN",
                          help="the reranking weights w_rev and w_len, e.g. 0.5,0.2")
    generate.add_argument("--run", action="store_true",
                          help="also run the code in a separate, limited process (never in "
                          "this one) and report on stderr whether it ran, raised or timed out")
    generate.add_argument("--timeout", type=float, default=2.0, metavar="SECONDS",
                          help="wall-clock limit of --run (2.0)")

    bench = commands.add_parser("bench", help="training and decoding speed of the models, "
                                "against a tutorial-style reference")
    bench.add_argument("--json", action="store_true", help="print one JSON object per line")
    bench.add_argument("--repeats", type=int, default=3, metavar="N",
                       help="full passes over the sample per model, taking turns; ratios are "
                       "the median with min and max over them (3)")
    bench.add_argument("--pairs", type=int, default=1024, metavar="N",
                       help="size of the seeded sample of training pairs (1024: 16 batches a "
                       "pass; the first 256 are also decoded)")
    bench.add_argument("--threads", type=int, metavar="N",
                       help="torch threads (default: $OMP_NUM_THREADS, else the CPUs this "
                       "process may use)")
    bench.add_argument("--device", help="cpu or cuda (default: the GPU if there is one)")
    bench.add_argument("--teacher-forcing", type=float, default=0.5, metavar="P",
                       help="teacher forcing of every model (0.5, the course's)")
    bench.add_argument("--profile", choices=["ci", "cpu", "full"],
                       help="whose data and vocabularies (default: $SEQ2CODE_PROFILE, else "
                       "cpu or full)")
    return parser


def resolve_checkpoint(path: Path) -> Path:
    """``path`` itself, or ``path/best.pt`` for a folder."""
    return path / "best.pt" if path.is_dir() else path


def _cmd_train(args: argparse.Namespace) -> int:
    from seq2code import experiment, models

    if args.epochs is not None and args.epochs < 1:
        raise UsageError("--epochs must be at least 1")
    try:  # check the kind before loading any data
        models.build_model(args.model, 8, 8)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.dropout is not None and not 0.0 <= args.dropout < 1.0:
        raise UsageError("--dropout must lie in [0, 1)")
    if args.average is not None and not 0.0 < args.average < 1.0:
        raise UsageError("--average must lie between 0 and 1 (e.g. 0.999)")
    if args.label_smoothing is not None and not 0.0 <= args.label_smoothing < 1.0:
        raise UsageError("--label-smoothing must lie in [0, 1) (e.g. 0.1)")
    if args.minutes is not None and not args.minutes > 0:
        raise UsageError("--minutes must be positive")
    train_options = {"epochs": args.epochs} if args.epochs is not None else {}
    if args.average is not None:
        train_options["average_decay"] = args.average
    if args.label_smoothing:
        train_options["label_smoothing"] = args.label_smoothing
    if args.minutes is not None:
        train_options["max_minutes"] = args.minutes
    model_options = {"dropout": args.dropout} if args.dropout is not None else {}
    data = experiment.prepare_data(args.profile)
    if args.reverse:
        from seq2code.rerank import reverse_data

        if "canonical" in models.get_kind(args.model).options:
            model_options["canonical"] = False  # the reverse data is canonical already
        data = reverse_data(data)
    trained = experiment.train_model(args.model, data=data, seed=args.seed,
                                     use_cache=False, out_dir=args.out, resume=args.resume,
                                     progress=not args.quiet, train_options=train_options,
                                     **model_options)
    n_params = sum(p.numel() for p in trained.model.parameters())
    history = trained.history
    summary = [f"trained {trained.kind} ({n_params:,} parameters) on profile "
               f"{trained.config['profile']['name']}"]
    if history is not None and history.dev_exact_match:
        best = history.best_epoch
        summary.append(f"best epoch {best + 1} of {len(history.dev_exact_match)}: dev loss "
                       f"{history.dev_loss[best]:.3f}, dev exact match "
                       f"{history.dev_exact_match[best]:.1%}")
    summary.append(f"checkpoint: {trained.checkpoint_path}")
    print("\n".join(summary))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from seq2code import experiment

    if args.beam < 1:
        raise UsageError("--beam must be at least 1")
    if args.rerank is not None and args.beam < 2:
        raise UsageError("--rerank reranks the beam: give --beam 2 or more (e.g. --beam 5)")
    path = resolve_checkpoint(args.checkpoint)
    trained = experiment.load_trained(path, expected_kind=args.model)
    profile = trained.config.get("profile") or {}
    examples = experiment.load_split(args.split, profile or None)
    if args.ensemble and args.rerank is None:
        raise UsageError("--ensemble averages the forward scores of the reranking: give "
                         "--rerank REVERSE too")
    if args.rerank is not None:
        return _evaluate_reranked(args, trained, path, profile, examples)
    report = experiment.evaluate_model(trained, examples, beam=args.beam)
    result = {**report.metrics, "split": args.split, "kind": trained.kind,
              "profile": profile.get("name"), "checkpoint": str(path), "beam": args.beam}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{trained.kind} on {args.split} ({result['n']} examples, profile "
          f"{result['profile']}):")
    print(f"  exact match            {result['exact_match']:7.1%}")
    print(f"  canonical exact match  {result['exact_match_canonical']:7.1%}")
    print(f"  BLEU                   {result['bleu']:7.1f}")
    print(f"  parses                 {result['parse_rate']:7.1%}")
    print(f"  token edit distance    {result['edit_distance']:7.2f}")
    print("  by English length:  " + "  ".join(
        f"{row['bucket']}: {row['exact_match']:.1%} (n={row['n']})"
        for row in result["by_length"]))
    return 0


def _evaluate_reranked(args: argparse.Namespace, trained, path: Path, profile: dict,
                       examples) -> int:
    """``evaluate --rerank``: tune the weights on dev, keep them, score the split."""
    from seq2code import experiment, rerank
    from seq2code.tokens import tokenize_code, tokenize_nl

    reverse_path = resolve_checkpoint(args.rerank)
    reverse = experiment.load_trained(reverse_path)
    others = [experiment.load_trained(resolve_checkpoint(other), expected_kind=trained.kind)
              for other in args.ensemble or ()]

    def scored(split_examples):
        return rerank.score_candidates(trained, [tokenize_nl(ex.nl) for ex in split_examples],
                                       [tokenize_code(ex.code) for ex in split_examples],
                                       args.beam, reverse=reverse, others=others)

    dev = scored(experiment.load_split("dev", profile or None))
    weights, dev_exact = dev.tune()
    split = dev if args.split == "dev" else scored(examples)
    result = {"split": args.split, "kind": trained.kind, "profile": profile.get("name"),
              "checkpoint": str(path), "reverse": str(reverse_path), "beam": args.beam,
              "ensemble": [str(resolve_checkpoint(other)) for other in args.ensemble or ()],
              "n": len(examples), "weights": {"rev": weights.rev, "length": weights.length},
              "dev_exact_match_reranked": dev_exact,
              "beam_top_exact_match_canonical": split.beam_top(),
              "oracle": split.oracle(),
              "exact_match_canonical": split.exact_match(weights)}
    folder = reverse_path.parent
    (folder / "rerank.json").write_text(json.dumps(
        {"forward": str(path), "beam": args.beam, "weights": result["weights"],
         "dev_exact_match": dev_exact}, indent=1) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{trained.kind} reranked by {reverse_path} on {args.split} ({result['n']} examples, "
          f"beam {args.beam}, profile {result['profile']}):")
    print(f"  weights tuned on dev   w_rev {weights.rev:g}, w_len {weights.length:g} "
          f"(dev {dev_exact:.1%}; kept in {folder / 'rerank.json'})")
    print(f"  beam's own best        {result['beam_top_exact_match_canonical']:7.1%}")
    print(f"  reranked               {result['exact_match_canonical']:7.1%}  (canonical exact "
          "match)")
    print(f"  oracle (in the beam)   {result['oracle']:7.1%}")
    return 0


def _rerank_weights(args: argparse.Namespace):
    """The weights of ``generate --rerank``: ``--weights`` or the tuned ones."""
    from seq2code.rerank import Weights

    if args.weights is not None:
        try:
            rev, length = (float(part) for part in args.weights.split(","))
        except ValueError:
            raise UsageError("--weights takes two numbers, REV,LEN (e.g. 0.5,0.2)") from None
        return Weights(rev, length)
    saved = resolve_checkpoint(args.rerank).parent / "rerank.json"
    if not saved.exists():
        raise UsageError(f"no tuned weights in {saved}: run `{PROG} evaluate CHECKPOINT --beam "
                         f"K --rerank {args.rerank}` first, or give --weights REV,LEN")
    weights = json.loads(saved.read_text(encoding="utf-8"))["weights"]
    return Weights(weights["rev"], weights["length"])


def _the_description(message: str) -> str:
    """A message of :func:`seq2code.experiment.translate` about its first description, said
    of the command line's one description: "the description", not "description 1"."""
    return re.sub(r"^description 1\b", "the description", message)


def _knows_none_of(tokens: list[str], vocab: Container[str]) -> bool:
    """Whether the English vocabulary ``vocab`` holds none of the description's words (its
    tokens with a letter or digit; all its tokens when it has no such word)."""
    words = [token for token in tokens if any(char.isalnum() for char in token)] or tokens
    return not any(word in vocab for word in words)


def _cmd_generate(args: argparse.Namespace) -> int:
    from seq2code import experiment
    from seq2code.tokens import tokenize_nl

    tokens = tokenize_nl(args.description)  # control characters alone are no tokens either
    if not tokens:
        raise UsageError("the description is empty: give an English description in quotes")
    if args.beam < 1:
        raise UsageError("--beam must be at least 1")
    if not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise UsageError("--timeout must be a positive number of seconds")
    if args.rerank is not None and args.beam < 2:
        raise UsageError("--rerank reranks the beam: give --beam 2 or more (e.g. --beam 5)")
    if args.weights is not None and args.rerank is None:
        raise UsageError("--weights are the reranking's: give --rerank REVERSE too")
    weights = _rerank_weights(args) if args.rerank is not None else None
    trained = experiment.load_trained(resolve_checkpoint(args.checkpoint),
                                      expected_kind=args.model)
    if _knows_none_of(tokens[:trained.max_src_len or None], trained.src_vocab):
        warnings.warn("none of the description's words is in the model's English vocabulary: "
                      "it reads only <unk>, so the code it writes is meaningless",
                      stacklevel=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            if weights is None:
                [code] = experiment.translate(trained, [args.description], beam=args.beam)
            else:
                code = _generate_reranked(trained, tokens, args, weights)
        except ValueError as exc:  # a description with no tokens at all
            raise UsageError(_the_description(str(exc))) from None
    for warning in caught:  # "description 1 has N tokens: truncated ..."
        warnings.warn(_the_description(str(warning.message)), warning.category,
                      stacklevel=1)
    print(code)
    if args.run:
        from seq2code.sandbox import run

        result = run(code, timeout=args.timeout)
        print(f"{PROG}: run: {result.describe()}", file=sys.stderr)
    return 0


def _generate_reranked(trained, tokens: list[str], args: argparse.Namespace, weights) -> str:
    """The beam's candidate that the reranking picks, as source code."""
    from seq2code import experiment, rerank
    from seq2code.tokens import untokenize_code

    reverse = experiment.load_trained(resolve_checkpoint(args.rerank))
    candidates = rerank.beam_candidates(trained, [tokens], args.beam)
    backward = rerank.reverse_scores(reverse, candidates)
    [pick] = rerank.choose(weights, candidates.forward, backward,
                           rerank.lengths_of(candidates))
    return untokenize_code(candidates.outputs(trained)[0][pick])


def _cmd_bench(args: argparse.Namespace) -> int:
    from seq2code import bench

    try:
        return bench.run_command(json_lines=args.json, repeats=args.repeats,
                                 pairs=args.pairs, threads=args.threads, device=args.device,
                                 teacher_forcing=args.teacher_forcing, profile=args.profile)
    except bench.BenchUsageError as exc:
        raise UsageError(str(exc)) from None


_COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "generate": _cmd_generate,
             "bench": _cmd_bench}


def _runtime_errors() -> tuple[type[BaseException], ...]:
    """The expected failures of a run: one line, exit status 1."""
    from seq2code.checkpoint import CheckpointError
    from seq2code.data import DataError

    return (CheckpointError, DataError, OSError)


def _error(message: str, status: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _error(_one_line(exc), 2)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            status = _COMMANDS[args.command](args)
        except UsageError as exc:
            status = _error(_one_line(exc), 2)
        except KeyboardInterrupt:
            status = _error("interrupted", 130)
        except Exception as exc:  # noqa: BLE001 - the public face shows one line, not a traceback
            if isinstance(exc, _runtime_errors()):
                status = _error(_one_line(exc), 1)
            elif os.environ.get("SEQ2CODE_DEBUG"):
                raise
            else:
                status = _error(f"unexpected {type(exc).__name__}: {_one_line(exc)} "
                                "(set SEQ2CODE_DEBUG=1 to see the traceback)", 1)
    for warning in caught:
        if issubclass(warning.category, UserWarning):
            print(f"{PROG}: warning: {_one_line(warning.message)}", file=sys.stderr)
    return status
