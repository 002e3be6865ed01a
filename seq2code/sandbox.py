"""Run a snippet of (generated) Python in a separate, limited process.

A model's output is never run in the reader's own process. :func:`run` starts a fresh
``python -I`` (isolated: no user site-packages, no ``PYTHON*`` variables, no current folder
on the path) in a throwaway temporary folder, and contains it in layers:

1. **Resource limits**, set in the child before it starts Python: address space
   (``RLIMIT_AS``, so a huge allocation raises ``MemoryError``), CPU seconds, size of any
   file written (``RLIMIT_FSIZE``), no core dumps, no new processes (``RLIMIT_NPROC``; the
   kernel does not apply this one to root, hence layer 2).
2. **An audit hook** (:pep:`578`), installed by a small bootstrap before the snippet runs and
   impossible to remove from Python: it refuses sockets, starting processes
   (``subprocess``, ``os.system``, ``os.fork``, ``os.exec*``, ``os.posix_spawn``),
   signalling other processes, ``ctypes`` (beyond the import of the module itself), any
   write, delete, rename, new folder or symbolic link outside the temporary folder, and any
   read or listing outside it and Python's own installation (the standard library,
   site-packages, time-zone data), so a snippet cannot read the home folder, a mounted
   Google Drive or the model cache. Paths are resolved (``..``, symbolic links) first.
3. **A wall-clock limit**: the child runs in its own process group, killed as a whole when
   time is up.

The captured output is capped; the temporary folder is deleted afterwards. This contains
mistakes and casual mischief in a course's generated code; it is not a security boundary
against a determined attacker (use a container or a VM for that).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

#: How many bytes of stdout and of stderr are kept; the rest is read and dropped.
OUTPUT_LIMIT = 64 * 1024
#: The largest file the snippet may write, in bytes.
FILE_SIZE_LIMIT = 16 * 1024 * 1024

# The bootstrap runs in the child as ``python -I -c BOOTSTRAP RESULT_FD``. It reads the
# snippet from stdin, installs the audit hook, runs the snippet, and reports the name of an
# uncaught exception as JSON on the pipe RESULT_FD (opened before the hook is installed).
_BOOTSTRAP = r'''
import json, os, pwd, sys, sysconfig, traceback

_result = os.fdopen(int(sys.argv[1]), "w")
_source = sys.stdin.read()
_folder = os.path.realpath(os.getcwd())
_devnull = os.path.realpath(os.devnull)

import subprocess, _posixsubprocess  # loaded now, so that the hook can refuse a reload

def _read_roots():
    # the folder, then where Python imports from and keeps its data (time zones); never "/"
    # nor a folder holding the home folder, whatever a stray path entry says
    try:
        home = os.path.realpath(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        home = None
    tzpath = (sysconfig.get_config_var("TZPATH") or "").split(os.pathsep)
    roots = set()
    for path in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                 *sys.path, *tzpath):
        if path:
            real = os.path.realpath(path)
            if real != os.sep and not (home and os.path.commonpath([real, home]) == real):
                roots.add(real)
    return (_folder, *sorted(roots))

_READ_ROOTS = _read_roots()
_READ_FILES = {_devnull, "/dev/urandom", "/dev/random", os.path.realpath(sys.executable)}

def _refuse_fork_exec(*args, **kwargs):
    raise PermissionError("sandbox: starting a process is not allowed")

_posixsubprocess.fork_exec = _refuse_fork_exec
subprocess._fork_exec = _refuse_fork_exec  # its own copy (Python 3.11+)

_REFUSED = {"subprocess.Popen", "os.system", "os.fork", "os.forkpty", "os.posix_spawn",
            "os.spawn", "os.exec", "os.kill", "os.killpg", "signal.pthread_kill",
            "pty.spawn", "os.startfile", "webbrowser.open", "sys.remote_exec"}
_REFUSED_PREFIXES = ("socket.", "ctypes.", "_winapi.", "winreg.", "mmap.")
_REFUSED_IMPORTS = {"_posixsubprocess"}  # a fresh copy would undo the patch above
# event -> positions of the path arguments that must lie inside the folder
_PATH_EVENTS = {"os.remove": (0,), "os.rmdir": (0,), "shutil.rmtree": (0,),
                "os.rename": (0, 1), "os.link": (0, 1), "os.symlink": (1,),
                "os.setxattr": (0,), "os.removexattr": (0,),
                "os.mkdir": (0,), "os.truncate": (0,), "os.chmod": (0,), "os.chown": (0,),
                "os.utime": (0,), "os.chflags": (0,), "os.lchmod": (0,), "os.lchown": (0,),
                "os.mkfifo": (0,), "os.mknod": (0,), "shutil.copyfile": (1,),
                "shutil.copytree": (1,), "shutil.move": (1,)}
# event -> positions of the path arguments that must be readable (None: the working folder)
_READ_EVENTS = {"os.listdir": (0,), "os.scandir": (0,), "os.walk": (0,), "os.fwalk": (0,),
                "os.listxattr": (0,), "os.getxattr": (0,), "pathlib.Path.glob": (0,),
                "pathlib.Path.rglob": (0,), "shutil.copyfile": (0,), "shutil.copytree": (0,)}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

def _real(path):
    return os.path.realpath(os.fsdecode(os.fspath(path)))

def _inside(path):
    if isinstance(path, int):  # an already open file descriptor
        return True
    real = _real(path)
    return real == _devnull or os.path.commonpath([_folder, real]) == _folder

def _readable(path):
    if isinstance(path, int):
        return True
    real = _real(path)
    return real in _READ_FILES or any(os.path.commonpath([root, real]) == root
                                      for root in _READ_ROOTS)

def _glob_start(pattern, root_dir):
    # the folder a glob pattern lists first: its part before the first wildcard
    pattern = os.fsdecode(os.fspath(pattern))
    head = []
    for part in pattern.split(os.sep):
        if any(c in part for c in "*?["):
            break
        head.append(part)
    start = os.sep.join(head) or (os.sep if pattern.startswith(os.sep) else os.curdir)
    return start if root_dir is None else os.path.join(os.fsdecode(os.fspath(root_dir)), start)

def _hook(event, args):
    if event == "ctypes.dlopen" and args[0] is None:
        # importing ctypes (numpy does) opens the interpreter's own symbols; finding or
        # calling anything in them is refused still (ctypes.dlsym, ctypes.call_function)
        return
    if event in _REFUSED or event.startswith(_REFUSED_PREFIXES):
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "import" and args[0] in _REFUSED_IMPORTS:
        raise PermissionError(f"sandbox: importing {args[0]} is not allowed")
    if event == "open":
        path, mode, flags = args
        writes = (mode is not None and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writes and not _inside(path):
            raise PermissionError(f"sandbox: writing {path!r} outside the folder is not allowed")
        if not _readable(path):
            raise PermissionError(f"sandbox: reading {path!r} outside the folder is not allowed")
    elif event == "os.symlink":  # the link must point inside too, seen from where it lies
        target = os.path.join(os.path.dirname(os.fsdecode(os.fspath(args[1]))),
                              os.fsdecode(os.fspath(args[0])))
        if not _inside(target):
            raise PermissionError(f"sandbox: os.symlink to {args[0]!r} is not allowed")
    elif event == "glob.glob/2":
        start = _glob_start(args[0], args[2])
        if not _readable(start):
            raise PermissionError(f"sandbox: glob.glob in {start!r} is not allowed")
    elif event == "sqlite3.connect":  # SQLite opens (and creates) its files itself
        database = os.fsdecode(os.fspath(args[0]))
        if database not in ("", ":memory:") and (database.startswith("file:")
                                                  or not _inside(database)):
            raise PermissionError(f"sandbox: sqlite3.connect on {args[0]!r} is not allowed")
    for i in _PATH_EVENTS.get(event, ()):
        if i < len(args) and args[i] is not None and not _inside(args[i]):
            raise PermissionError(f"sandbox: {event} on {args[i]!r} is not allowed")
    for i in _READ_EVENTS.get(event, ()):
        path = args[i] if i < len(args) and args[i] is not None else os.curdir
        if not _readable(path):
            raise PermissionError(f"sandbox: {event} on {path!r} is not allowed")

sys.addaudithook(_hook)
_exception = None
try:
    exec(compile(_source, "<snippet>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
except SystemExit as exc:
    if exc.code not in (None, 0):
        _exception = "SystemExit"
        traceback.print_exc()
except BaseException as exc:
    _exception = type(exc).__name__
    traceback.print_exc()
sys.stdout.flush()
sys.stderr.flush()
_result.write(json.dumps({"exception": _exception}))
_result.close()
os._exit(1 if _exception else 0)
'''


@dataclass
class SandboxResult:
    """What happened to a snippet.

    Attributes:
        status: ``"ok"`` (ran to the end), ``"error"`` (raised: see ``exception``),
            ``"timeout"`` (wall-clock limit reached, killed) or ``"killed"`` (ended by a
            signal, e.g. the CPU-time or file-size limit, or a crash).
        exception: the class name of the uncaught exception (``"ZeroDivisionError"``), else
            ``None``.
        stdout: what the snippet printed (at most :data:`OUTPUT_LIMIT` bytes, decoded).
        stderr: its error output, the traceback included (capped the same way).
        returncode: the child's exit status (negative: the signal that ended it).
        seconds: wall-clock time the child ran.
    """

    status: str
    exception: str | None
    stdout: str
    stderr: str
    returncode: int | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        """One line for a reader: ``ran without error``, ``raised NameError``, ..."""
        took = f"({self.seconds:.2f} s)"
        if self.status == "ok":
            return f"ran without error {took}"
        if self.status == "error":
            return f"raised {self.exception or 'an error'} {took}"
        if self.status == "timeout":
            return f"timed out and was stopped {took}"
        return f"was killed (signal {-(self.returncode or 0)}, a resource limit or a crash) {took}"


def _limits(memory_mb: int, cpu_seconds: int):
    """A ``preexec_fn`` that sets the resource limits in the child, before ``exec``."""

    def apply() -> None:
        memory = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))

    return apply


def _drain(stream, keep: bytearray, limit: int) -> None:
    """Read ``stream`` to its end, keeping its first ``limit`` bytes in ``keep``."""
    while chunk := stream.read(65536):
        room = limit - len(keep)
        if room > 0:
            keep.extend(chunk[:room])
    stream.close()


def run(code: str, timeout: float = 2.0, memory_mb: int = 256) -> SandboxResult:
    """Run ``code`` in a separate, limited Python process and report what happened.

    Args:
        code: Python source (one generated line, or a whole program).
        timeout: wall-clock limit in seconds, Python's start-up included.
        memory_mb: address-space limit of the child, in MiB.

    Returns:
        A :class:`SandboxResult`; never raises for anything the snippet does.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    result_read, result_write = os.pipe()
    with tempfile.TemporaryDirectory(prefix="seq2code-sandbox-") as folder:
        env = {"PATH": os.defpath, "HOME": folder, "TMPDIR": folder, "LANG": "C.UTF-8"}
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOTSTRAP, str(result_write)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=folder, env=env, pass_fds=(result_write,), start_new_session=True,
                preexec_fn=_limits(memory_mb, max(1, int(timeout) + 1)),
            )
        finally:
            os.close(result_write)
        out, err = bytearray(), bytearray()
        readers = [threading.Thread(target=_drain, args=(s, buf, OUTPUT_LIMIT), daemon=True)
                   for s, buf in ((proc.stdout, out), (proc.stderr, err))]
        for reader in readers:
            reader.start()
        try:
            proc.stdin.write(code.encode("utf-8", errors="replace"))
            proc.stdin.close()
        except (BrokenPipeError, OSError):  # the child died before reading its input
            pass
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        _kill_group(proc.pid)  # also ends anything the snippet left behind
        proc.wait()
        seconds = time.monotonic() - start
        for reader in readers:
            reader.join(timeout=5)
        with os.fdopen(result_read, "rb") as pipe:
            report = pipe.read(4096)
    return SandboxResult(_status(timed_out, proc.returncode, report), _exception(report),
                         out.decode("utf-8", errors="replace"),
                         err.decode("utf-8", errors="replace"), proc.returncode, seconds)


def _kill_group(pgid: int) -> None:
    """SIGKILL every process in the child's process group (gone already: nothing to do)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _exception(report: bytes) -> str | None:
    """The exception name the bootstrap reported, if any."""
    try:
        name = json.loads(report.decode("utf-8"))["exception"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(name)[:200] if name else None


def _status(timed_out: bool, returncode: int, report: bytes) -> str:
    if timed_out:
        return "timeout"
    if returncode < 0:
        return "killed"
    if returncode != 0 or _exception(report):
        return "error"
    return "ok"
