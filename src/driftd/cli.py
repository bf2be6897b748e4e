"""The ``driftd`` command: parses arguments, configures logging, hands over. Nothing else."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from driftd.errors import DriftdError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="driftd", description="Model monitoring and drift detection.")
    p.add_argument(
        "--config",
        default=os.environ.get("DRIFTD_CONFIG"),
        help="YAML settings file (default: $DRIFTD_CONFIG; env DRIFTD_* overrides it)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--role", choices=["all", "collector", "api"], default="all")

    sub.add_parser("check-config", help="validate the settings and exit non-zero when invalid")

    base = sub.add_parser("baseline", help="create, list and show training baselines")
    bsub = base.add_subparsers(dest="action", required=True)
    create = bsub.add_parser("create", help="profile a training file and store it immutably")
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
    create.add_argument("--chunk-rows", type=int, default=100_000)
    for name, helptext in (("list", "list baselines"), ("show", "show one baseline")):
        cmd = bsub.add_parser(name, help=helptext)
        cmd.add_argument("model", nargs="?" if name == "list" else None)
        if name == "show":
            cmd.add_argument("--version", help="default: the newest")
    for cmd in bsub.choices.values():
        cmd.add_argument(
            "--api",
            help="a running daemon's API URL (default: used automatically when the "
            "configured daemon answers and storage is embedded)",
        )

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
    demo.add_argument("--events", type=int, default=6_000, help="prediction events to stream")
    demo.add_argument("--window", type=int, default=500, help="events per drift window")
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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from driftd.config import load_settings

    try:
        if args.command == "demo":
            _configure_logging("WARNING", False)
            from driftd.demo import run_demo

            return run_demo(kafka=args.kafka, events=args.events, window=args.window, root=args.dir)
        settings = load_settings(args.config)
        _configure_logging(settings.logging.level, settings.logging.json_format)
        if args.command == "check-config":
            print("configuration is valid")
            return 0
        if args.command == "run":
            from driftd.daemon import Daemon

            return Daemon(settings, args.role).run()
        if args.command == "keys":
            from driftd.keys_cli import run_keys

            return run_keys(settings, args)
        from driftd.baseline_cli import run_baseline

        return run_baseline(settings, args)
    except DriftdError as exc:
        print(f"driftd: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
