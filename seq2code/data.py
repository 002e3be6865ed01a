"""The Django dataset: 18,805 lines of Python, each with an English description.

Oda et al. (ASE 2015) paired every line of the Django web framework's source with a
pseudo-code sentence. Every published result uses the same split by line number::

    train  lines     0 .. 15999   (16,000 examples)
    dev    lines 16000 .. 16999   ( 1,000 examples)
    test   lines 17000 .. 18804   ( 1,805 examples)

:func:`load_django` finds the two files ``all.anno`` (English) and ``all.code`` (Python) in
this order:

1. the ``data_dir`` argument;
2. the folder named by ``$SEQ2CODE_DATA``;
3. a download from the dataset's public repository, with pooch, into a cache folder
   (``pooch.os_cache("seq2code")/django``, or ``$SEQ2CODE_DATA_CACHE``).

Whatever the source, both files must have the published SHA-256 digests, so every reader of
the course trains and scores on exactly the same data. Every failure is a :class:`DataError`
whose message is one line that says what to do.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pooch

DATA_ENV = "SEQ2CODE_DATA"
CACHE_ENV = "SEQ2CODE_DATA_CACHE"

#: The upstream commit the digests belong to (``odashi/ase15-django-dataset``, folder ``django``).
UPSTREAM_COMMIT = "c37fa281ced0de16aa7868415522905f8380686e"
BASE_URL = f"https://raw.githubusercontent.com/odashi/ase15-django-dataset/{UPSTREAM_COMMIT}/django/"

#: SHA-256 of the two files as published.
SHA256 = {
    "all.anno": "86b38c7bf6ffe2882d4603f799e92f48ddaab8a7d9b2af41bba923e59b41800a",
    "all.code": "d20b345fd3cdcf8d54b9cd123b3de4078f8f9a3c6bfc9fed9cd215bc857f99db",
}
FILES = tuple(SHA256)

#: The fixed split by line number (0-based, end exclusive).
SPLITS = {"train": (0, 16000), "dev": (16000, 17000), "test": (17000, 18805)}
N_LINES = 18805


class DataError(Exception):
    """The Django data could not be found, downloaded or verified (a one-line message)."""


@dataclass(frozen=True)
class Example:
    """One line of Django with its description.

    Attributes:
        index: the line number in ``all.code`` / ``all.anno``, from 0.
        nl: the English description (surrounding whitespace stripped).
        code: the Python line (surrounding whitespace, i.e. the indentation, stripped).
    """

    index: int
    nl: str
    code: str


def default_cache_dir() -> Path:
    """Where downloads go: ``$SEQ2CODE_DATA_CACHE``, else ``pooch.os_cache("seq2code")/django``."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path(pooch.os_cache("seq2code")) / "django"


def download_django(cache_dir: str | Path | None = None, base_url: str | None = None) -> Path:
    """Download ``all.anno`` and ``all.code`` (once) and return the folder that holds them.

    pooch checks each file's SHA-256 after download and fetches again a cached file whose
    digest is wrong.

    Args:
        cache_dir: the folder to download into (default :func:`default_cache_dir`).
        base_url: where the files lie (default :data:`BASE_URL`, the pinned upstream commit).

    Raises:
        DataError: when a download fails (no network) or a file has the wrong digest.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    base_url = base_url or BASE_URL
    for name in FILES:
        try:
            pooch.retrieve(base_url + name, known_hash=f"sha256:{SHA256[name]}", fname=name,
                           path=folder, progressbar=False)
        except ValueError as error:
            if "hash" not in str(error).lower():  # e.g. requests' InvalidURL
                raise DataError(f"could not download {base_url + name} ({_first_line(error)}); "
                                f"check the address, or set {DATA_ENV} to a folder holding "
                                "all.anno and all.code") from None
            found = re.search(r"got (?:sha256:)?([0-9a-f]{12})", str(error))
            raise DataError(  # pooch's digest mismatch; pooch has deleted the bad file
                f"the downloaded {name} has the wrong SHA-256: expected {SHA256[name][:12]}..., "
                f"found {found.group(1) if found else '?'}... (the file was deleted); try again "
                f"later, or set {DATA_ENV} to a folder holding the published files") from None
        except Exception as error:  # requests' connection errors, HTTP errors, OSError
            raise DataError(
                f"could not download {base_url + name} ({type(error).__name__}); connect to "
                f"the internet, or set {DATA_ENV} to a folder holding all.anno and all.code") \
                from None
    return folder


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _check_folder(folder: Path, verify: bool) -> None:
    """Raise :class:`DataError` when a file is missing or (with ``verify``) has a wrong digest."""
    if not folder.is_dir():
        raise DataError(f"the Django data folder {folder} does not exist; set {DATA_ENV} to the "
                        "folder that holds all.anno and all.code, or unset it to download them")
    for name in FILES:
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path} is missing; put all.anno and all.code in {folder} or set "
                            f"{DATA_ENV} to the folder that holds them (unset it to download)")
        if verify:
            found = pooch.file_hash(str(path), alg="sha256")
            if found != SHA256[name]:
                raise DataError(
                    f"{path} has the wrong SHA-256: expected {SHA256[name][:12]}..., found "
                    f"{found[:12]}...; replace it with the published file (delete it to "
                    f"download again) or fix {DATA_ENV}")


def _read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read().split("\n")[:-1] if path.stat().st_size else []


@functools.lru_cache(maxsize=4)
def _load_cached(folder: str, stamp: tuple, verify: bool) -> dict[str, tuple[Example, ...]]:
    """Read and split the two files; cached on the folder and its files' size and mtime."""
    root = Path(folder)
    _check_folder(root, verify)
    nl_lines = _read_lines(root / "all.anno")
    code_lines = _read_lines(root / "all.code")
    if len(nl_lines) != len(code_lines):
        raise DataError(f"all.anno has {len(nl_lines)} lines but all.code has {len(code_lines)} "
                        f"in {root}; the two files must match line for line (use the "
                        "published files)")
    examples = [Example(i, nl.strip(), code.strip())
                for i, (nl, code) in enumerate(zip(nl_lines, code_lines, strict=True))]
    return {name: tuple(examples[start:end]) for name, (start, end) in SPLITS.items()}


def _stamp(folder: Path) -> tuple:
    """Size and modification time of each file: a changed file misses the read cache."""
    out = []
    for name in FILES:
        try:
            st = (folder / name).stat()
            out.append((name, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((name, None, None))
    return tuple(out)


def resolve_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """The local folder to read: ``data_dir``, else ``$SEQ2CODE_DATA``, else ``None``
    (download)."""
    if data_dir is not None and str(data_dir).strip():
        return Path(data_dir).expanduser().resolve()
    configured = os.environ.get(DATA_ENV, "").strip()
    return Path(configured).expanduser().resolve() if configured else None


def load_django(data_dir: str | Path | None = None, *, verify: bool = True
                ) -> dict[str, list[Example]]:
    """The Django dataset, split into ``"train"``, ``"dev"`` and ``"test"``.

    Args:
        data_dir: a folder holding ``all.anno`` and ``all.code``; default ``$SEQ2CODE_DATA``,
            and without it a (cached) download.
        verify: check both files' SHA-256 against the published digests. Switch it off only
            to experiment with a modified copy of the data.

    Returns:
        ``{"train": [...16000], "dev": [...1000], "test": [...1805]}`` lists of
        :class:`Example` (fresh lists each call; the examples themselves are shared).

    Raises:
        DataError: no network for the download, a missing file, a wrong digest, or files
            whose line counts differ; the message is one line that says what to do.
    """
    folder = resolve_data_dir(data_dir)
    if folder is None:
        folder = download_django().resolve()
    splits = _load_cached(str(folder), _stamp(folder), verify)
    return {name: list(examples) for name, examples in splits.items()}
