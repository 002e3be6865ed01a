"""load_django: the fixed split, the digest checks and the one-line error messages."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

from seq2code import data
from seq2code.data import DataError, Example, download_django, load_django


@pytest.fixture(scope="module")
def data_dir() -> Path:
    """The local copy of the Django data named by ``$SEQ2CODE_DATA``."""
    configured = os.environ.get("SEQ2CODE_DATA", "").strip()
    if not configured:
        pytest.skip("SEQ2CODE_DATA is not set: point it at a folder with all.anno and all.code")
    return Path(configured)


@pytest.fixture
def copy_of_data(data_dir, tmp_path) -> Path:
    """A writable copy of the two data files."""
    folder = tmp_path / "django"
    folder.mkdir()
    for name in data.FILES:
        shutil.copy(data_dir / name, folder / name)
    return folder


@pytest.fixture
def server(tmp_path):
    """A local HTTP server standing in for GitHub: yields ``(folder it serves, base URL)``."""
    root = tmp_path / "served"
    root.mkdir()

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


# --- the real data --------------------------------------------------------------------------


def test_split_sizes(data_dir):
    splits = load_django(data_dir)
    assert list(splits) == ["train", "dev", "test"]
    assert [len(splits[name]) for name in splits] == [16000, 1000, 1805]


def test_first_and_last_line_of_each_split(data_dir):
    splits = load_django(data_dir)
    anno = (data_dir / "all.anno").read_text().split("\n")
    code = (data_dir / "all.code").read_text().split("\n")
    for name, (first, last) in {"train": (0, 15999), "dev": (16000, 16999),
                                "test": (17000, 18804)}.items():
        for example, line in ((splits[name][0], first), (splits[name][-1], last)):
            assert example == Example(line, anno[line].strip(), code[line].strip())
    assert splits["train"][0].code == "from threading import local"
    assert splits["test"][-1].code == "self . endElement ( name )"
    assert splits["test"][-1].nl == "call the method self.endElement with an argument name."


def test_environment_variable_is_read(data_dir, monkeypatch):
    monkeypatch.setenv("SEQ2CODE_DATA", str(data_dir))
    assert len(load_django()["dev"]) == 1000


def test_argument_beats_environment_variable(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQ2CODE_DATA", str(tmp_path / "nowhere"))
    assert len(load_django(data_dir)["test"]) == 1805


def test_callers_get_their_own_lists(data_dir):
    first = load_django(data_dir)
    first["train"].clear()
    assert len(load_django(data_dir)["train"]) == 16000


# --- local folders that are wrong -----------------------------------------------------------


def test_tampered_file_is_refused(copy_of_data):
    with open(copy_of_data / "all.code", "a") as f:
        f.write("import os\n")
    with pytest.raises(DataError) as error:
        load_django(copy_of_data)
    message = _one_line(error)
    assert "all.code" in message and "wrong SHA-256" in message
    assert f"expected {data.SHA256['all.code'][:12]}" in message
    assert "SEQ2CODE_DATA" in message


def test_same_size_tampering_is_refused_after_a_good_read(copy_of_data):
    """The read cache must not hide a file changed since the last read."""
    assert len(load_django(copy_of_data)["train"]) == 16000
    path = copy_of_data / "all.anno"
    text = path.read_text()
    path.write_text(text.replace("a", "b", 1))
    os.utime(path, ns=(0, 0))
    with pytest.raises(DataError, match="all.anno has the wrong SHA-256"):
        load_django(copy_of_data)


def test_missing_file_message(copy_of_data):
    (copy_of_data / "all.anno").unlink()
    with pytest.raises(DataError) as error:
        load_django(copy_of_data)
    message = _one_line(error)
    assert "all.anno is missing" in message and "SEQ2CODE_DATA" in message


def test_missing_folder_message(tmp_path):
    with pytest.raises(DataError) as error:
        load_django(tmp_path / "nowhere")
    assert "does not exist" in _one_line(error)


def test_line_counts_that_differ_are_refused(copy_of_data):
    with open(copy_of_data / "all.code", "a") as f:
        f.write("pass\n")
    with pytest.raises(DataError) as error:
        load_django(copy_of_data, verify=False)  # past the digest check, to the count check
    message = _one_line(error)
    assert "18805" in message and "18806" in message


# --- the download ---------------------------------------------------------------------------


def test_download_verifies_and_caches(data_dir, server, tmp_path):
    served, url = server
    for name in data.FILES:
        shutil.copy(data_dir / name, served / name)
    folder = download_django(tmp_path / "cache", base_url=url)
    assert sorted(p.name for p in folder.iterdir()) == ["all.anno", "all.code"]
    for name in data.FILES:  # the server is no longer needed: the cache is used
        (served / name).unlink()
    assert download_django(tmp_path / "cache", base_url=url) == folder
    assert len(load_django(folder)["dev"]) == 1000


def test_download_with_a_wrong_digest_is_refused(data_dir, server, tmp_path):
    served, url = server
    shutil.copy(data_dir / "all.anno", served / "all.anno")
    (served / "all.code").write_text("print('not the Django data')\n")
    with pytest.raises(DataError) as error:
        download_django(tmp_path / "cache", base_url=url)
    message = _one_line(error)
    assert "all.code has the wrong SHA-256" in message
    assert f"expected {data.SHA256['all.code'][:12]}" in message
    assert not (tmp_path / "cache" / "all.code").exists()


def test_no_network_message(tmp_path, monkeypatch):
    monkeypatch.delenv("SEQ2CODE_DATA", raising=False)
    monkeypatch.setenv("SEQ2CODE_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "BASE_URL", "http://127.0.0.1:9/")  # nothing listens there
    with pytest.raises(DataError) as error:
        load_django()
    message = _one_line(error)
    assert message.startswith("could not download http://127.0.0.1:9/all.anno")
    assert "SEQ2CODE_DATA" in message


def test_default_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("SEQ2CODE_DATA_CACHE", raising=False)
    assert data.default_cache_dir().parts[-2:] == ("seq2code", "django")
    monkeypatch.setenv("SEQ2CODE_DATA_CACHE", str(tmp_path))
    assert data.default_cache_dir() == tmp_path


def test_published_digests_match_the_shared_sums(data_dir):
    sums = data_dir / "SHA256SUMS"
    if not sums.exists():
        pytest.skip(f"no SHA256SUMS in {data_dir}")
    published = dict(reversed(line.split()) for line in sums.read_text().splitlines() if line)
    assert published == data.SHA256
