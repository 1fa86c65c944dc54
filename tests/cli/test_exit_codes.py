"""Exit status: 2 for a user error, 1 for a failure inside longmod (traceback only with --debug), 130 for Ctrl-C."""

from __future__ import annotations

import pytest

import longmod.cli as cli


@pytest.fixture
def failing_trials(monkeypatch):
    def install(exc):
        def boom(args):
            raise exc

        monkeypatch.setattr(cli, "_cmd_trials", boom)

    return install


def test_internal_failure_is_status_1_with_a_short_message(failing_trials, capsys):
    failing_trials(ZeroDivisionError("float division by zero"))
    assert cli.main(["trials"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("longmod: internal error (ZeroDivisionError: float division by zero)")
    assert "--debug" in err and "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("where", [["--debug", "trials"], ["trials", "--debug"]])
def test_debug_shows_the_traceback(failing_trials, capsys, where):
    failing_trials(ZeroDivisionError("float division by zero"))
    assert cli.main(where) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_user_error_is_status_2(failing_trials, capsys):
    from longmod.data.validate import Problem, TrialDataError

    failing_trials(TrialDataError([Problem("t/patients.csv", 4, "arm", "unknown arm 'x'; valid arms: a, b")]))
    assert cli.main(["trials"]) == 2
    err = capsys.readouterr().err
    assert err == ("longmod: error: 1 problem(s) in the trial data:\n"
                   "  - t/patients.csv, line 4, column 'arm': unknown arm 'x'; valid arms: a, b\n")


def test_ctrl_c_is_status_130_with_one_line(failing_trials, capsys):
    failing_trials(KeyboardInterrupt())
    assert cli.main(["trials"]) == 130
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "interrupted" in err and "Traceback" not in err


@pytest.mark.parametrize("signum", [2, 15])
def test_an_interrupt_wrapped_by_an_extension_import_is_still_the_interrupt(failing_trials, capsys, signum):
    # pybind11 turns a KeyboardInterrupt during module initialisation into ImportError("initialization failed")
    # (seen in CI: SIGINT while matplotlib imported gave "error: initialization failed", status 2)
    from longmod.errors import Interrupted

    def wrapped():
        try:
            raise Interrupted(signum)
        except KeyboardInterrupt as e:
            raise ImportError("initialization failed") from e

    try:
        wrapped()
    except ImportError as e:
        failing_trials(e)
    assert cli.main(["trials"]) == 128 + signum
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "stopped" in err and "initialization failed" not in err


def test_usage_error_is_status_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["reanalyse", "--chains", "zero"])
    assert exc.value.code == 2


def test_help_documents_the_exit_status(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "exit status:" in out and "130" in out and "--debug" in out
