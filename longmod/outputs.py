"""Output folders written whole or not at all: checked first, built aside, swapped in by one rename.

:func:`check_writable` is called before any computing, so an unusable
``--out`` (an existing file, a folder that cannot be created or written) is
reported at once. :func:`atomic_output_dir` builds the output in a hidden
temporary folder beside the target (same file system) and then exchanges it
with the target in one atomic ``renameat2(RENAME_EXCHANGE)`` (Linux), or, where
that is not available, renames the old folder to a hidden backup, renames the
new one into place and only then deletes the backup (restoring it if the second
rename fails). A reader therefore sees the old results or the new ones, never a
mix, and a stale file of an earlier run never survives.

The temporary folders are removed when the block fails or is interrupted
(KeyboardInterrupt, or SIGTERM through :func:`signals_raise`); those left by
a killed process (SIGKILL) are removed, and a backup left between the two
renames restored, by the next write beside the same target.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

from longmod.errors import Interrupted, UserError

#: Name prefix of the folder an output is built in (beside the target).
TMP_PREFIX = ".longmod-tmp-"
#: Name prefix of the previous output while the new one is renamed into place.
BACKUP_PREFIX = ".longmod-old-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def check_writable(out_dir: str | Path, *, option: str = "--out") -> Path:
    """Check that ``out_dir`` can be (re)written as a folder; raise :class:`UserError` if not.

    Nothing is left behind: the check creates and removes a temporary folder in
    the nearest existing parent.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> base = pathlib.Path(tempfile.mkdtemp())
    >>> check_writable(base / "new" / "results") == base / "new" / "results"
    True
    >>> _ = (base / "f.txt").write_text("x")
    >>> check_writable(base / "f.txt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    longmod.errors.UserError: --out ...f.txt: this is an existing file, not a folder; give a folder path ...
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{option} {out}: this is an existing file, not a folder; give a folder path (the folder "
                        "is created, or replaced whole)")
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{option} {out}: {parent} is a file, so the folder cannot be created there")
    try:
        probe = tempfile.mkdtemp(prefix=TMP_PREFIX + "probe.", dir=parent)
    except OSError as exc:
        raise UserError(f"{option} {out}: cannot write in {parent} ({exc.strerror or exc}); choose a folder you "
                        "can write to") from None
    os.rmdir(probe)
    return out


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2); False when not supported here."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this file system cannot exchange
        return False
    raise OSError(err, os.strerror(err), str(b))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(name: str, prefix: str, target: str) -> int | None:
    rest = name[len(prefix) + len(target) + 1:]
    head = rest.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def clean_stale(out_dir: str | Path) -> list[Path]:
    """Remove the temporary folders of dead runs beside ``out_dir``; restore a backup left without its target.

    Returns the paths removed or restored.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> base = pathlib.Path(tempfile.mkdtemp())
    >>> (base / ".longmod-tmp-out.999999999.x").mkdir()
    >>> [p.name for p in clean_stale(base / "out")]
    ['.longmod-tmp-out.999999999.x']
    """
    out = Path(out_dir).absolute()
    done: list[Path] = []
    if not out.parent.is_dir():
        return done
    for item in sorted(out.parent.iterdir()):
        for prefix in (TMP_PREFIX, BACKUP_PREFIX):
            if not item.name.startswith(f"{prefix}{out.name}."):
                continue
            pid = _owner_pid(item.name, prefix, out.name)
            if pid is None or _pid_alive(pid):
                continue
            if prefix == BACKUP_PREFIX and not out.exists():
                os.rename(item, out)  # killed between the two renames: the old output comes back
            else:
                shutil.rmtree(item, ignore_errors=True)
            done.append(item)
    return done


def _swap_in(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.rename(tmp, out)
        return
    if _exchange(tmp, out):
        shutil.rmtree(tmp)  # tmp now holds the old output
        return
    backup = Path(tempfile.mkdtemp(prefix=f"{BACKUP_PREFIX}{out.name}.{os.getpid()}.", dir=out.parent))
    os.rmdir(backup)
    os.rename(out, backup)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(backup, out)
        raise
    shutil.rmtree(backup, ignore_errors=True)


@contextlib.contextmanager
def atomic_output_dir(out_dir: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder that replaces ``out_dir`` whole when the block succeeds.

    On any exception (including KeyboardInterrupt) the temporary folder is
    removed and ``out_dir`` is unchanged. Files of an earlier output that the
    block does not write do not survive.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> with atomic_output_dir(d) as tmp:
    ...     _ = (tmp / "a.txt").write_text("x")
    >>> with atomic_output_dir(d) as tmp:
    ...     _ = (tmp / "b.txt").write_text("y")
    >>> sorted(p.name for p in d.iterdir()), sorted(p.name for p in d.parent.iterdir())
    (['b.txt'], ['out'])
    """
    out = check_writable(out_dir).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{out.name}.{os.getpid()}.", dir=out.parent))
    try:
        yield tmp
        _swap_in(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _raise_interrupted(signum, frame):  # noqa: ARG001 - signal handler signature
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_raise(signums: tuple[int, ...] = (signal.SIGTERM,)) -> Iterator[None]:
    """Within the block, the given signals raise :class:`~longmod.errors.Interrupted` (cleanup runs).

    Only in the main thread; elsewhere the block runs unchanged.

    Examples
    --------
    >>> with signals_raise():
    ...     signal.getsignal(signal.SIGTERM) is _raise_interrupted
    True
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _raise_interrupted) for s in signums}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


#: Name prefix of a run's private temporary folder (in the system temporary folder).
RUN_TMP_PREFIX = "longmod-run-"


@contextlib.contextmanager
def private_tempdir() -> Iterator[Path]:
    """Point ``tempfile`` and ``$TMPDIR`` (for child processes) at a folder of this run, removed at the end.

    Libraries write scratch files there (PyTensor leaves one source file per compiled numba function in the
    temporary folder, about a hundred per run); the folder goes when the block ends, also on an error or
    an interrupt, and the folders of killed runs are removed by the next one.

    Examples
    --------
    >>> with private_tempdir() as d:
    ...     inside = tempfile.gettempdir() == str(d)
    >>> inside, d.exists()
    (True, False)
    """
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{RUN_TMP_PREFIX}*"):
        pid = old.name[len(RUN_TMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    run = Path(tempfile.mkdtemp(prefix=f"{RUN_TMP_PREFIX}{os.getpid()}-", dir=base))
    saved_env, saved_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(run), str(run)
    try:
        yield run
    finally:
        tempfile.tempdir = saved_dir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(run, ignore_errors=True)
