"""The Typer application and the one place where errors become exit codes.

Command modules (``session_audit.cli.<command>``) register themselves on :data:`app`. They import
heavy libraries (polars, duckdb, prefect) inside the command body, so ``session-audit --help`` and
the plain ingest path stay fast.

The app's callback holds the options of every command: ``--version``, ``--log-level`` and
``--log-format`` (logging is configured in :mod:`session_audit.logs`, for the command's duration).
:func:`run_app` also writes what ``--help`` needs but the commands cannot know statically: the
exit codes (one definition: ``cli.ingest.EXIT_CODES``) and, for every option named like a
:class:`~session_audit.settings.Settings` field, its environment variable and default.
"""

from __future__ import annotations

import gc
import re
import signal
import sys
from collections.abc import Mapping
from typing import Annotated, Any, NoReturn

import typer

from session_audit import logs
from session_audit.errors import ConfigError, SessionAuditError

_APP_SETTINGS: dict[str, Any] = {
    "name": "session-audit",
    "help": "Pull Tradovate login-session records into DuckDB for compliance and risk analysis.",
    "no_args_is_help": True,
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "rich_markup_mode": None,
}
app = typer.Typer(**_APP_SETTINGS)
# The app's own options that take a value (see _common): skipped to find the command's name.
_VALUE_OPTIONS = ("--log-level", "--log-format")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TERMINATED = 128 + int(signal.SIGTERM)  # 143
# What each exit code means (codes of an ingest run come from cli.ingest.EXIT_CODES by status).
_STATUS_MEANING = {
    "completed": "ok",
    "failed": "failed (a check found bad rows, a run failed)",
    "incomplete": "incomplete scan (the next run continues from the cursor)",
    "rate_limited": "rate limited (the API locked the user out: run again after the lockout)",
    "interrupted": "interrupted (Ctrl-C)",
}
_ENV_NOTE = re.compile(r"\s*\[(env|default) [^\]]*\]")
_DEFAULT_LEVEL = logs.LogLevel(logs.DEFAULT_LEVEL)
_DEFAULT_FORMAT = logs.LogFormat(logs.DEFAULT_FORMAT)


def _version_callback(value: bool) -> None:
    if value:
        from session_audit import __version__

        typer.echo(f"session-audit {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _common(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_version_callback, help="print the version, exit"
        ),
    ] = False,
    log_level: Annotated[
        logs.LogLevel,
        typer.Option(
            envvar="SESSION_AUDIT_LOG_LEVEL",
            show_envvar=True,
            help="least severe log records shown (stderr)",
        ),
    ] = _DEFAULT_LEVEL,
    log_format: Annotated[
        logs.LogFormat,
        typer.Option(
            envvar="SESSION_AUDIT_LOG_FORMAT",
            show_envvar=True,
            help="text lines, or one JSON object per line (with run_id and org where known)",
        ),
    ] = _DEFAULT_FORMAT,
) -> None:
    """Pull Tradovate login-session records into DuckDB for compliance and risk analysis."""
    logs.configure_logging(log_level.value, log_format.value)


def exit_codes_help(run_codes: Mapping[str, int]) -> str:
    """The exit-code paragraph of ``--help``, from the ingest's ``EXIT_CODES`` (by run status)."""
    codes: dict[int, str] = {EXIT_USAGE: "usage or settings error"}
    for status, code in run_codes.items():
        codes.setdefault(code, _STATUS_MEANING.get(status, status.replace("_", " ")))
    interrupted = run_codes.get("interrupted")
    if interrupted is not None:
        codes[interrupted] = f"{codes[interrupted]}, {EXIT_TERMINATED} terminated (SIGTERM)"
    return "Exit codes: " + "; ".join(f"{code} {text}" for code, text in sorted(codes.items()))


def annotate_settings_options(command: Any, fields: Mapping[str, Any]) -> None:
    """Append ``[env SESSION_AUDIT_<NAME>; default <value>]`` to the help of every option of
    ``command`` (a click command built by Typer, and its subcommands) whose parameter is named
    like a Settings field in ``fields`` (name -> default, None for no default)."""
    for sub in (getattr(command, "commands", None) or {}).values():
        annotate_settings_options(sub, fields)
    for param in command.params:
        if getattr(param, "param_type_name", None) != "option" or param.name not in fields:
            continue
        default = fields[param.name]
        note = f"env SESSION_AUDIT_{param.name.upper()}"
        if default is not None and default != "":
            note += f"; default {default}"
        text = _ENV_NOTE.sub("", param.help or "").rstrip()
        param.help = f"{text} [{note}]".strip()


def _settings_defaults() -> dict[str, Any]:
    from pydantic import SecretStr

    from session_audit.settings import Settings

    out: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, SecretStr):
            default = None
        out[name] = default
    return out


def _wants_help(argv: list[str]) -> bool:
    return not argv or "--help" in argv


def _invoked(args: list[str]) -> Any | None:
    """The registered command (Typer's ``CommandInfo``) that ``args`` run, when that is plain:
    the first argument after the app's own options names one command (not a group); else None."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _VALUE_OPTIONS:
            i += 2
        elif arg.startswith(tuple(f"{option}=" for option in _VALUE_OPTIONS)):
            i += 1
        elif arg.startswith("-"):
            return None  # --version, or an option click should judge with the whole app
        else:
            found = [info for info in app.registered_commands if info.name == arg]
            return found[0] if len(found) == 1 else None
    return None


def build_command(argv: list[str] | None = None) -> Any:
    """The click command of :data:`app`, its help completed (exit codes, settings' env names and
    defaults: computed only when help is asked for, so a plain run stays fast). A plain run of
    one command builds the app with that command only (the app's options and callback, the
    command's parameters), not the click objects of every command (~12 ms of CPU)."""
    args = sys.argv[1:] if argv is None else argv
    if _wants_help(args) or (invoked := _invoked(args)) is None:
        command = typer.main.get_command(app)
    else:
        only = typer.Typer(**_APP_SETTINGS)
        only.registered_callback = app.registered_callback
        only.registered_commands = [invoked]
        command = typer.main.get_command(only)
    if _wants_help(args):
        from session_audit.cli.ingest import EXIT_CODES

        command.epilog = exit_codes_help(EXIT_CODES)
        annotate_settings_options(command, _settings_defaults())
    return command


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print a one-line error to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def run_app(argv: list[str] | None = None) -> int:
    """Run the CLI; translate our errors into a one-line message and an exit code."""
    try:
        build_command(argv).main(args=argv, prog_name="session-audit", standalone_mode=True)
    except SystemExit as exc:  # click's standalone mode: usage errors, typer.Exit, success
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_FAILED)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_USAGE
    except SessionAuditError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_FAILED
    finally:
        logs.restore_logging()
    return EXIT_OK


def main() -> None:
    """The ``session-audit`` process: run the command, then exit with its code. Objects left
    then are frozen out of the garbage collector first (``gc.freeze``): the interpreter's exit
    would otherwise run full collections over everything the command imported (polars, duckdb,
    pydantic, ...), about 0.07 s of CPU per process, to free memory the exit frees anyway.
    Everything a command writes is flushed and closed by the command itself."""
    code = run_app()
    gc.freeze()
    sys.exit(code)
