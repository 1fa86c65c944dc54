"""Which exceptions are the user's to fix (exit status 2) and which are longmod's own failures (exit status 1).

A *user error* is a problem with the input or the command line: a data or
``trial.toml`` problem, a plan or model spec that does not fit the data, a
missing file, an output folder that cannot be written. ``longmod`` prints its
message (file, line, column, what is valid) and exits with status 2. Any other
exception is a failure inside longmod: status 1, a short message, and the
traceback only with ``--debug``. An interrupt (Ctrl-C, SIGTERM) exits with
128 + the signal number (130 for Ctrl-C).
"""

from __future__ import annotations

#: Exit status of a run that succeeded.
EXIT_OK = 0
#: Exit status of a failure inside longmod (a bug or an environment problem; ``--debug`` shows the traceback).
EXIT_INTERNAL = 1
#: Exit status of a user error (bad input, bad command line, unwritable output).
EXIT_USER = 2
#: Exit status after Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


class UserError(ValueError):
    """A problem the user can fix: bad input, an unknown name, an unwritable output folder.

    Examples
    --------
    >>> is_user_error(UserError("no such trial"))
    True
    """


class UnknownNameError(UserError, KeyError):
    """An unknown trial, analysis or other name; the message lists the valid ones.

    Examples
    --------
    >>> str(UnknownNameError("unknown analysis 'x'; valid: a, b"))
    "unknown analysis 'x'; valid: a, b"
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Interrupted(KeyboardInterrupt):
    """Raised by longmod's signal handler on SIGTERM (or SIGINT): the run stops and its temporary files go.

    Examples
    --------
    >>> Interrupted(15).signum
    15
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or signal that caused ``exc``, if any: ``exc`` itself or one in its cause/context chain.

    A signal that arrives while an extension module initialises is re-raised by some (pybind11's, e.g.
    matplotlib's) as ``ImportError("initialization failed")`` from the ``KeyboardInterrupt``; it is still the
    interrupt, not a user error.

    Examples
    --------
    >>> try:
    ...     try:
    ...         raise Interrupted(15)
    ...     except KeyboardInterrupt as e:
    ...         raise ImportError("initialization failed") from e
    ... except ImportError as e:
    ...     interrupt_behind(e).signum
    15
    >>> interrupt_behind(ValueError("x")) is None
    True
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def reraise_interrupt(exc: BaseException) -> None:
    """Raise the interrupt behind ``exc`` (see :func:`interrupt_behind`), so that no handler that records a failure
    or falls back to another method swallows a Ctrl-C or SIGTERM; do nothing when there is none.

    Examples
    --------
    >>> reraise_interrupt(ValueError("x"))  # not an interrupt: nothing happens
    >>> wrapped = ImportError("initialization failed")
    >>> wrapped.__cause__ = Interrupted(15)
    >>> try:
    ...     reraise_interrupt(wrapped)
    ... except KeyboardInterrupt as e:
    ...     print("stopped by signal", e.signum)
    stopped by signal 15
    """
    interrupt = interrupt_behind(exc)
    if interrupt is not None:
        raise interrupt


#: Exception classes (module.qualname) raised for the user's input; matched along the MRO so that
#: nothing heavy is imported to classify an error.
USER_ERROR_CLASSES: frozenset[str] = frozenset({
    "longmod.errors.UserError",
    "longmod.data.validate.TrialDataError",
    "longmod.spec.model.SpecError",            # also PlanError
    "longmod.spec.terms.FormulaError",
    "longmod.engines.bayes.priors.PriorError",
    "longmod.engines.bayes.runtime.SamplerError",
    "longmod.engines.survival.data.SurvivalInputError",
    "longmod.engines.ordinal.design.OrdinalInputError",
    "longmod.biomarkers.frame.BiomarkerFrameError",
    "longmod.reconstruct.targets.TargetsError",
    "longmod.reconstruct.generator.GeneratorError",
    "tomllib.TOMLDecodeError",
    "builtins.FileNotFoundError", "builtins.FileExistsError", "builtins.NotADirectoryError",
    "builtins.IsADirectoryError", "builtins.PermissionError", "builtins.ImportError",
    "builtins.ModuleNotFoundError", "builtins.NotImplementedError",
})


def _user_errnos() -> frozenset[int]:
    import errno

    return frozenset(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM") if hasattr(errno, n))


#: OS errors the user can fix (disk full, quota, read-only file system, permissions).
_USER_ERRNOS = _user_errnos()


def is_user_error(exc: BaseException) -> bool:
    """True when ``exc`` is a problem with the user's input or command (exit status 2).

    Examples
    --------
    >>> is_user_error(FileNotFoundError("x.csv")), is_user_error(ZeroDivisionError())
    (True, False)
    >>> import errno
    >>> is_user_error(OSError(errno.ENOSPC, "No space left on device"))
    True
    """
    if isinstance(exc, OSError) and exc.errno in _USER_ERRNOS:
        return True
    return any(f"{c.__module__}.{c.__qualname__}" in USER_ERROR_CLASSES for c in type(exc).__mro__)


def user_message(exc: BaseException) -> str:
    """The message shown for a user error (a KeyError's text without its quotes).

    Examples
    --------
    >>> user_message(KeyError("unknown trial 'x'"))
    "unknown trial 'x'"
    """
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, OSError) and exc.errno in _USER_ERRNOS:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}; nothing was written (an earlier output folder is unchanged)"
    return str(exc) or type(exc).__name__
