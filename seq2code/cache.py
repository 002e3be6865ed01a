"""The on-disk model cache: trained models kept under a key of their configuration.

A chapter that needs a model asks the cache for it; the model is trained only when no model
of the same configuration lies there yet, so that a later chapter (the comparison) reuses an
earlier chapter's model instead of training it again::

    path = get_or_create("rnn", config, create=train_and_save)   # trains only the first time

The cache folder is ``$SEQ2CODE_CACHE``, else ``~/.cache/seq2code``. A model's file is
``<cache>/models/<kind>-<key>.pt`` where ``<key>`` is a short SHA-256 of the configuration
written as canonical JSON (sorted keys, no spaces), so that the same configuration gives the
same key on every machine and in every Python session.

The cache only decides *where* a model lives and *whether* it must be made. Writing the file
(atomically: into a temporary name, then ``os.replace``) is the job of the ``create``
callback; the cache trusts a file only when its final name exists.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePath

CACHE_ENV = "SEQ2CODE_CACHE"
KEY_LENGTH = 16  # hex digits of the SHA-256 kept in a file name: 64 bits, no collisions here

_KIND_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def cache_dir() -> Path:
    """The cache's root folder: ``$SEQ2CODE_CACHE``, else ``~/.cache/seq2code``.

    The folder is not created here; :func:`get_or_create` creates what it writes into.
    """
    configured = os.environ.get(CACHE_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "seq2code"


def _plain(value):
    """``value`` as plain JSON data: dataclasses, paths, tuples and sets made JSON-ready.

    Raises:
        TypeError: for a value with no stable JSON form (an object, a tensor, ...), since a key
            built from its ``repr`` could change from one session to the next.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, PurePath):
        return value.as_posix()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"cannot build a cache key from a {type(value).__name__}: use plain data "
        "(dicts, lists, strings, numbers, booleans, None, dataclasses, paths)"
    )


def canonical_json(config: Mapping) -> str:
    """The configuration as canonical JSON: sorted keys, no spaces, plain data only."""
    return json.dumps(_plain(config), sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_key(config: Mapping, version: str | None = None) -> str:
    """A short, stable key of a configuration: the first hex digits of its SHA-256.

    Args:
        config: the whole configuration that determines the model (model options, training
            settings, profile, data digest, seed).
        version: optionally the library's version, so that a new release trains afresh.

    Returns:
        ``KEY_LENGTH`` lowercase hex digits; equal configurations (whatever the order of their
        keys) give equal keys, and any changed value gives a different key.
    """
    payload = canonical_json(config) if version is None else canonical_json(
        {"config": config, "version": version})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:KEY_LENGTH]


def cached_path(kind: str, config: Mapping, root: Path | None = None) -> Path:
    """Where the model of ``kind`` with ``config`` lives: ``<root>/models/<kind>-<key>.pt``.

    Args:
        kind: the model kind (``"rnn"``, ``"lstm"``, ...): lowercase letters, digits, ``-``, ``_``.
        config: the configuration (see :func:`config_key`).
        root: the cache folder (default :func:`cache_dir`).

    Raises:
        ValueError: for a kind that is not a plain name (it becomes part of a file name).
    """
    if not _KIND_PATTERN.match(kind):
        raise ValueError(f"model kind {kind!r} is not a plain lowercase name")
    root = cache_dir() if root is None else Path(root)
    return root / "models" / f"{kind}-{config_key(config)}.pt"


def get_or_create(kind: str, config: Mapping, create: Callable[[Path], None],
                  root: Path | None = None) -> Path:
    """The cached model file of ``kind`` and ``config``, made by ``create(path)`` if missing.

    Args:
        kind: the model kind (see :func:`cached_path`).
        config: the configuration (see :func:`config_key`).
        create: called with the final path when no file lies there; it must write the file
            atomically (temporary name, then ``os.replace``), so that an interrupted ``create``
            leaves no file under the final name. Its folder exists when it is called.
        root: the cache folder (default :func:`cache_dir`).

    Returns:
        The path of the model file, which exists.

    Raises:
        RuntimeError: when ``create`` returned without writing the file.
    """
    path = cached_path(kind, config, root)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    create(path)
    if not path.is_file():
        raise RuntimeError(f"the cache's create callback did not write {path}")
    return path
