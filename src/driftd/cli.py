"""The ``driftd`` command: parses arguments, configures logging, hands over. Nothing else."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from driftd import __version__
from driftd.errors import (
    BaselineError,
    ConfigError,
    DriftdError,
    EventError,
    RequestRefusedError,
    SourceError,
    StorageDataError,
    StorageError,
)

__all__ = ["exit_status", "main"]


#: Exit statuses, documented in README.md ("Exit statuses") and docs/troubleshooting.md.
EXIT_OK = 0
EXIT_FAILED = 1  # the daemon stopped on a failure, or an unexpected error (a bug)
EXIT_USAGE = 2  # bad arguments (argparse's own status)
EXIT_CONFIG = 3  # the configuration is invalid, or the configured port is taken
EXIT_UNREACHABLE = 4  # a service (daemon, storage, Kafka) does not answer
EXIT_DATA = 5  # the data is wrong: a training file, a baseline, an event


def _positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the fix (``--help``), status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="driftd", description="Model monitoring and drift detection.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    config_help = "YAML settings file (default: $DRIFTD_CONFIG; env DRIFTD_* overrides it)"
    p.add_argument("--config", default=os.environ.get("DRIFTD_CONFIG"), help=config_help)
    p.add_argument(
        "--traceback", action="store_true", help="show the traceback of an unexpected error"
    )
    # --config is also accepted after the verb (driftd run --config X)
    common = _Parser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon", parents=[common])
    run.add_argument("--role", choices=["all", "collector", "api"], default="all")

    check = sub.add_parser(
        "check-config",
        help="validate the settings and exit non-zero when invalid",
        parents=[common],
    )
    check.add_argument("--json", action="store_true", help="print the verdict as JSON")

    base = sub.add_parser("baseline", help="create, list and show training baselines")
    bsub = base.add_subparsers(dest="action", required=True)
    create = bsub.add_parser(
        "create", help="profile a training file and store it immutably", parents=[common]
    )
    create.add_argument("model")
    create.add_argument("--version", required=True)
    create.add_argument("--data", required=True, help="training data (.csv or .parquet)")
    create.add_argument("--prediction", help="column holding the model's prediction")
    create.add_argument("--label", help="column holding the true label")
    create.add_argument(
        "--features", nargs="+", help="feature columns (default: all but prediction and label)"
    )
    create.add_argument(
        "--metric", action="append", default=[], metavar="NAME=VALUE", help="validation metric"
    )
    create.add_argument(
        "--categorical", action="append", default=[], metavar="COLUMN",
        help="profile this column as categories whatever its type (numeric codes); repeatable",
    )  # fmt: skip
    create.add_argument(
        "--ignore", action="append", default=[], metavar="COLUMN",
        help="leave this column out of the monitored features; repeatable",
    )  # fmt: skip
    create.add_argument(
        "--probabilities", action="append", default=[], metavar="CLASS=COLUMN",
        help="the column holding CLASS's predicted probability; repeatable, one per class",
    )  # fmt: skip
    create.add_argument(
        "--learn-thresholds", type=_positive, metavar="WINDOW",
        help="learn effect-size floors from windows of WINDOW rows of the data (up to 200)",
    )  # fmt: skip
    create.add_argument(
        "--chunk-rows", type=_positive, default=100_000, help="rows read at a time (default 100000)"
    )
    quiet_help = "no progress line on stderr (shown only when stderr is a terminal)"
    create.add_argument("--quiet", "-q", action="store_true", help=quiet_help)
    for name, helptext in (("list", "list baselines"), ("show", "show one baseline")):
        cmd = bsub.add_parser(name, help=helptext, parents=[common])
        cmd.add_argument("model", nargs="?" if name == "list" else None)
        cmd.add_argument("--json", action="store_true", help="print JSON")
        if name == "show":
            cmd.add_argument("--version", help="default: the newest")
    for cmd in bsub.choices.values():
        cmd.add_argument(
            "--api",
            help="a running daemon's API URL (default: used automatically when the "
            "configured daemon answers and storage is embedded)",
        )

    rep = sub.add_parser(
        "report", help="write a model's report: one self-contained HTML page", parents=[common]
    )
    rep.add_argument("model")
    rep.add_argument("--out", required=True, help="the HTML file to write ('-': stdout)")
    rep.add_argument("--from", dest="from_", help="epoch ms or RFC 3339 (default: 7 days ago)")
    rep.add_argument("--to", help="epoch ms or RFC 3339 (default: now)")
    rep.add_argument("--api", help="a running daemon's API URL (as for baseline commands)")
    rep.add_argument("--quiet", "-q", action="store_true", help=quiet_help)

    from driftd.alerts_cli import add_alerts_parser

    add_alerts_parser(sub, parents=[common])

    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    ksub = keys.add_subparsers(dest="action", required=True)
    kcreate = ksub.add_parser("create", help="create a key (printed once)")
    kcreate.add_argument("--name", required=True, help="who or what uses it, e.g. grafana")
    kcreate.add_argument(
        "--scope", action="append", required=True, choices=["ingest", "read", "admin"]
    )
    kcreate.add_argument("--model", action="append", help="restrict the key to this model")
    ksub.add_parser("list", help="list keys (ids, names, scopes; never the keys)")
    krevoke = ksub.add_parser("revoke", help="revoke a key by its id")
    krevoke.add_argument("key_id")

    demo = sub.add_parser("demo", help="run driftd end to end on embedded defaults")
    demo.add_argument("--kafka", metavar="HOST:PORT", help="go through this Kafka broker")
    demo.add_argument("--events", type=_positive, default=6_000, help="prediction events to stream")
    demo.add_argument("--window", type=_positive, default=500, help="events per drift window")
    demo.add_argument("--dir", help="data directory (default: a fresh temporary one)")
    return p


def _configure_logging(level: str, json_format: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_format:
        from driftd.logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    from driftd.logs import RedactingFilter

    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("kafka", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def exit_status(exc: DriftdError) -> int:
    """The documented exit status for a driftd error."""
    if isinstance(exc, ConfigError):
        arguments = all(k.startswith("--") and k != "--config" for k, _, _ in exc.problems)
        return EXIT_USAGE if arguments else EXIT_CONFIG
    if isinstance(exc, BaselineError | EventError | StorageDataError | RequestRefusedError):
        return EXIT_DATA
    if isinstance(exc, StorageError | SourceError):
        return EXIT_UNREACHABLE
    return EXIT_FAILED


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except BrokenPipeError:
        # the reader went away (driftd baseline show m | head -1): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("driftd: interrupted", file=sys.stderr)
        return 130
    except ConfigError as exc:
        status = exit_status(exc)
        what = "invalid argument" if status == EXIT_USAGE else "invalid configuration"
        for key, value, fix in exc.problems:  # one line per bad key, each with its fix
            print(f"driftd: {what}: {key}={value}: {fix}", file=sys.stderr)
        return status
    except DriftdError as exc:
        print(f"driftd: {_one_line(exc)}", file=sys.stderr)
        return exit_status(exc)
    except Exception as exc:
        if args.traceback:
            raise
        print(
            f"driftd: unexpected error ({type(exc).__name__}: {_one_line(exc)}); "
            "rerun with --traceback and report it",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _check_config(path: str | None, as_json: bool) -> int:
    """Settings problems and unknown ``DRIFTD_*`` variables, all of them, in one verdict."""
    from driftd.config import load_settings, unknown_environment

    try:
        load_settings(path)
        problems = []
    except ConfigError as exc:
        problems = list(exc.problems)
    problems += unknown_environment(os.environ)
    if as_json:
        listed = [{"key": k, "value": v, "fix": f} for k, v, f in problems]
        print(json.dumps({"valid": not problems, "config": path, "problems": listed}))
        return EXIT_CONFIG if problems else EXIT_OK
    if problems:
        raise ConfigError(problems)
    print(f"configuration is valid ({path or 'no file: defaults and DRIFTD_* environment'})")
    return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    from driftd.config import load_settings, unknown_environment

    if args.command == "demo":
        _configure_logging("WARNING", False)
        from driftd.demo import run_demo

        return run_demo(kafka=args.kafka, events=args.events, window=args.window, root=args.dir)
    if args.command == "check-config":
        return _check_config(args.config, args.json)
    settings = load_settings(args.config)
    _configure_logging(settings.logging.level, settings.logging.json_format)
    if args.command == "run":
        for name, _, fix in unknown_environment(os.environ):
            logging.getLogger("driftd").warning("environment %s ignored: %s", name, fix)
        from driftd.daemon import Daemon

        return Daemon(settings, args.role).run()
    if args.command == "report":
        from driftd.baseline_cli import run_report

        return run_report(settings, args)
    if args.command == "alerts":
        from driftd.alerts_cli import run_alerts

        return run_alerts(settings, args)
    if args.command == "keys":
        from driftd.keys_cli import run_keys

        return run_keys(settings, args)
    from driftd.baseline_cli import run_baseline

    return run_baseline(settings, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
