"""The sandbox contains hostile snippets and reports what happened, leaving this process alone."""

import os
import socket
import tempfile
from pathlib import Path

import pytest

from seq2code.sandbox import OUTPUT_LIMIT, SandboxResult, run


def test_normal_snippet_runs_and_returns_its_output():
    result = run("x = [i * i for i in range(5)]\nprint(sum(x))")
    assert isinstance(result, SandboxResult)
    assert result.status == "ok" and result.ok
    assert result.exception is None
    assert result.stdout.strip() == "30"
    assert result.returncode == 0


def test_raising_snippet_reports_the_exception_name():
    result = run("d = {}\nd['missing']")
    assert result.status == "error"
    assert result.exception == "KeyError"
    assert "KeyError" in result.stderr


def test_syntax_error_is_an_error():
    result = run("else :")
    assert result.status == "error" and result.exception == "SyntaxError"


def test_infinite_loop_times_out_and_is_killed():
    result = run("while True:\n    pass", timeout=1.0)
    assert result.status == "timeout"
    assert result.seconds < 5


def test_fork_attempts_are_refused():
    bomb = "import os\nwhile True:\n    os.fork()"
    result = run(bomb)
    assert result.status == "error" and result.exception == "PermissionError"
    for spawn in ("import subprocess\nsubprocess.run(['true'])",
                  "import os\nos.system('true')",
                  "import os\nos.execv('/bin/true', ['true'])",
                  "import _posixsubprocess\n_posixsubprocess.fork_exec()"):
        result = run(spawn)
        assert result.exception == "PermissionError", (spawn, result)


def test_huge_allocation_is_contained():
    result = run("x = bytearray(50 * 1024 ** 3)", memory_mb=256)
    assert result.status in ("error", "killed")
    if result.status == "error":
        assert result.exception == "MemoryError"


def test_writing_outside_the_folder_is_refused(tmp_path):
    target = tmp_path / "escaped.txt"
    result = run(f"open({str(target)!r}, 'w').write('x')")
    assert result.exception == "PermissionError"
    assert not target.exists()


def test_writing_inside_the_folder_is_allowed_and_thrown_away():
    result = run("import os\nopen('notes.txt', 'w').write('hi')\nprint(os.getcwd())")
    assert result.status == "ok"
    folder = result.stdout.strip()
    assert not os.path.exists(folder)  # the throwaway folder was deleted


def test_opening_a_socket_is_refused():
    result = run("import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 9))")
    assert result.status == "error" and result.exception == "PermissionError"
    # this process can still use its own sockets
    a, b = socket.socketpair()
    a.close()
    b.close()


@pytest.mark.parametrize("how", ["import os\nos.remove({p!r})",
                                 "import shutil\nshutil.rmtree({d!r})",
                                 "import os\nos.rename({p!r}, 'stolen.txt')"])
def test_deleting_files_is_refused(tmp_path, how):
    victim = tmp_path / "keep.txt"
    victim.write_text("precious")
    result = run(how.format(p=str(victim), d=str(tmp_path)))
    assert result.exception == "PermissionError"
    assert victim.read_text() == "precious"


def test_output_is_capped():
    result = run("print('x' * 10_000_000)")
    assert result.status == "ok"
    assert len(result.stdout) == OUTPUT_LIMIT


def test_signalling_this_process_is_refused():
    result = run(f"import os, signal\nos.kill({os.getpid()}, signal.SIGTERM)")
    assert result.exception == "PermissionError"


def test_sys_exit_zero_is_ok_and_nonzero_is_an_error():
    assert run("import sys\nsys.exit(0)").status == "ok"
    result = run("import sys\nsys.exit(3)")
    assert result.status == "error" and result.exception == "SystemExit"


def test_a_crash_by_signal_is_reported_as_killed():
    result = run("import os\nos.abort()")
    assert result.status == "killed" and result.returncode < 0


def test_file_size_is_limited_inside_the_folder():
    result = run("open('big', 'wb').write(b'x' * (64 * 1024 * 1024))", memory_mb=512)
    assert result.status == "error" and result.exception == "OSError"
    assert "File too large" in result.stderr


@pytest.mark.parametrize("code, words", [
    ("x = 1", "ran without error"),
    ("undefined_name", "raised NameError"),
    ("while True: pass", "timed out"),
])
def test_describe_says_what_happened_in_one_line(code, words):
    line = run(code, timeout=1.0).describe()
    assert words in line and "\n" not in line


SECRET = "drive-token-5f3a9c"


@pytest.fixture
def secret(tmp_path):
    """A private file outside the sandbox's folder, as a model cache on Drive would be."""
    path = tmp_path / "token.txt"
    path.write_text(SECRET)
    return path


def _from_sandbox_parent(path):
    """``path`` relative to the parent of the sandbox's folder, which is the temp folder."""
    return os.path.relpath(os.path.realpath(path), os.path.realpath(tempfile.gettempdir()))


@pytest.mark.parametrize("code", [
    "print(open('/etc/passwd').read())",
    "import os\nprint(os.listdir('/'))",
    f"import os\nprint(os.listdir({str(Path.home())!r}))",
    f"import os\nprint([e.name for e in os.scandir({str(Path.home())!r})])",
    "import os\nprint(next(os.walk('/')))",
    "import glob\nprint(glob.glob('/etc/*'))",
    "import pathlib\nprint(list(pathlib.Path('/').iterdir()))",
    "import pathlib\nprint(list(pathlib.Path('/etc').glob('*')))",
])
def test_reading_or_listing_outside_the_folder_is_refused(code):
    result = run(code)
    assert result.status == "error" and result.exception == "PermissionError", result
    assert "sandbox:" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("how", [
    "print(open({p!r}).read())",
    "import pathlib\nprint(pathlib.Path({p!r}).read_text())",
    "import os\nprint(os.read(os.open({p!r}, os.O_RDONLY), 100))",
    "import shutil\nshutil.copyfile({p!r}, 'copy.txt')\nprint(open('copy.txt').read())",
    "print(open('../' + {rel!r}).read())",
    "import sqlite3\nsqlite3.connect({p!r})",
])
def test_a_private_file_outside_the_folder_cannot_be_read(secret, how):
    result = run(how.format(p=str(secret), rel=_from_sandbox_parent(secret)))
    assert result.exception == "PermissionError", result
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("how", [
    "import os\nos.symlink({p!r}, 'link')\nprint(open('link').read())",
    # a link that points inside from where it was made, then moved up to point outside
    "import os\nos.mkdir('sub')\nos.symlink('../' + {rel!r}, 'sub/link')\n"
    "os.rename('sub/link', 'link')\nprint(open('link').read())",
])
def test_symbolic_links_do_not_lead_outside(secret, how):
    result = run(how.format(p=str(secret), rel=_from_sandbox_parent(secret)))
    assert result.exception == "PermissionError", result
    assert SECRET not in result.stdout + result.stderr


def test_the_folder_and_python_itself_stay_readable():
    code = ("import glob, json, math, os, random\n"
            "open('notes.txt', 'w').write('hi')\n"
            "os.mkdir('sub')\n"
            "print(open('notes.txt').read(), sorted(os.listdir()), glob.glob('*.txt'),\n"
            "      [d for _, ds, _ in os.walk('.') for d in ds], json.dumps(math.pi > 3),\n"
            "      0 <= random.random() < 1, len(os.urandom(4)), open(os.devnull).read() == '')")
    result = run(code)
    assert result.status == "ok", result
    assert result.stdout.split() == ["hi", "['notes.txt',", "'sub']", "['notes.txt']",
                                     "['sub']", "true", "True", "4", "True"]


def test_numpy_imports_in_the_sandbox():
    pytest.importorskip("numpy")
    result = run("import numpy as np\nprint(int(np.arange(4).sum()))", timeout=20,
                 memory_mb=1024)
    assert result.status == "ok", result
    assert result.stdout.strip() == "6"


def test_ctypes_imports_but_cannot_call_anything():
    result = run("import ctypes\nctypes.CDLL(None).system(b'true')")
    assert result.exception == "PermissionError"
    assert "ctypes" in result.stderr
