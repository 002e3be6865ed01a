"""The model kinds as plugs: each model module declares what the rest of the library needs of
its kinds in one :class:`ModelKind`, and this registry collects them.

A model module holds a tuple ``MODEL_KINDS`` of :class:`ModelKind`: the kind's name, its
chapter, its builder, its parameter formula, its options with their defaults and its training
defaults. :func:`seq2code.models.build_model`, :func:`seq2code.models.expected_parameters`, the
command line's ``--model`` and :func:`seq2code.experiment.train_model` read them from here, so a
new kind is one module in ``seq2code/models/`` (and its chapter).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any


@dataclass(frozen=True)
class ModelKind:
    """What the library needs to know of one model kind.

    Attributes:
        name: the kind's name (``build_model(name, ...)``, ``train --model name``).
        chapter: the chapter that introduces it (the order of :func:`kind_names`).
        summary: one line for the command line's help.
        build: ``build(src_vocab_size, tgt_vocab_size, emb_dim, hidden_dim, **options)``
            returns the :class:`~seq2code.models.base.Seq2Seq` (every option given, defaults
            filled in).
        parameters: ``parameters(src_vocab, tgt_vocab, emb, hidden)``: the parameter count
            from the formula.
        options: the options the kind takes, with their defaults.
        train_defaults: fields of :class:`~seq2code.training.TrainConfig` this kind trains
            with instead of the course's defaults (its chapter says why).
    """

    name: str
    chapter: int
    summary: str
    build: Callable[..., Any]
    parameters: Callable[[int, int, int, int], int]
    options: dict[str, Any] = field(default_factory=lambda: {"dropout": 0.0})
    train_defaults: dict[str, Any] = field(default_factory=dict)


@cache
def registry() -> dict[str, ModelKind]:
    """Every kind that a module of :mod:`seq2code.models` declares, in chapter order."""
    import seq2code.models as package

    found: list[ModelKind] = []
    for module in pkgutil.iter_modules(package.__path__):
        loaded = importlib.import_module(f"{package.__name__}.{module.name}")
        found.extend(getattr(loaded, "MODEL_KINDS", ()))
    names = [kind.name for kind in found]
    if len(set(names)) != len(names):
        raise RuntimeError(f"a model kind is declared twice: {sorted(names)}")
    # stable: kinds of one chapter keep their module's order
    return {kind.name: kind for kind in sorted(found, key=lambda k: k.chapter)}


def kind_names() -> tuple[str, ...]:
    """The kinds' names in chapter order."""
    return tuple(registry())


def get_kind(name: str) -> ModelKind:
    """The :class:`ModelKind` named ``name``.

    Raises:
        ValueError: for an unknown name, naming the known ones.
    """
    kinds = registry()
    if name not in kinds:
        raise ValueError(f"unknown model kind {name!r}: choose one of {', '.join(kinds)}")
    return kinds[name]
