"""The ``onward`` command: serve, worker, migrate, openapi, seed-demo and admin helpers.

Admin helpers print JSON so they can be piped into ``jq`` or scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import yaml

from app import embedded
from app.settings import Settings, get_settings

log = logging.getLogger("onward")


def _database_url(settings: Settings) -> str:
    explicit = settings.database_url.get_secret_value() if settings.database_url else None
    url = embedded.database_url(explicit, settings.data_dir)
    embedded.export_for_children(url)
    return url


def cmd_migrate(_: argparse.Namespace) -> int:
    from app.migrate import upgrade_sync

    upgrade_sync(_database_url(get_settings()))
    print("migrations at head", file=sys.stderr)
    return 0


def cmd_openapi(_: argparse.Namespace) -> int:
    sys.stdout.write(openapi_yaml())
    return 0


def openapi_yaml() -> str:
    from app.main import create_app

    spec = create_app().openapi()
    text: str = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)
    return text


def _with_db(fn: Callable[[Any, Settings], Awaitable[Any]]) -> Any:
    """Run ``fn(database, settings)`` against a migrated database and return its result."""
    from app.db import make_database, make_engine
    from app.migrate import upgrade

    settings = get_settings()
    url = _database_url(settings)

    async def run() -> Any:
        await upgrade(url)
        db = make_database(make_engine(url, settings))
        try:
            return await fn(db, settings)
        finally:
            await db.dispose()

    return asyncio.run(run())


def cmd_seed_demo(_: argparse.Namespace) -> int:
    from app.demo import seed_demo

    print(json.dumps(_with_db(seed_demo), indent=2, default=str))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.migrate import upgrade_sync

    if os.environ.get("ONWARD_ENVIRONMENT", "").strip().lower() != "production":
        # Development only: the served address as the issuer. In production the issuer is
        # what clients reach through the proxy, which this process cannot know: it must be
        # set (a replica serving on 0.0.0.0 would otherwise advertise 127.0.0.1).
        os.environ.setdefault("ONWARD_ISSUER", f"http://{_display_host(args.host)}:{args.port}")
    if (problems := settings_problems()) is not None:
        return _refuse_to_start(problems)
    settings = get_settings()
    upgrade_sync(_database_url(settings))
    demo: dict[str, Any] | None = None
    if args.demo:
        from app.demo import seed_demo

        demo = _with_db(seed_demo)
    from app.server import UVICORN_HTTP

    options: dict[str, Any] = {
        "factory": True,
        # httptools with each request's head bounded to 64 KiB (431 past it): server.py.
        "http": UVICORN_HTTP,
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        # Off: X-Forwarded-For is read by the app, from ONWARD_TRUSTED_PROXIES only
        # (app/auth/client_address.py); uvicorn's own reading would trust 127.0.0.1 behind
        # the setting's back and hand the app an address it cannot check.
        "proxy_headers": False,
        "server_header": False,
        "access_log": False,  # request lines can carry ids; the app logs what it needs
    }
    banner = ready_banner(settings.issuer_url, demo)
    try:
        if args.workers > 1:
            # uvicorn's supervisor runs the workers: the banner comes before they start.
            print(banner, file=sys.stderr, flush=True)
            uvicorn.run("app.main:create_app", **options)
        else:
            announcing_server(uvicorn.Config("app.main:create_app", **options), banner).run()
    except KeyboardInterrupt:
        pass  # Ctrl-C: uvicorn has shut down gracefully and re-raised the signal
    return 0


def announcing_server(config: Any, banner: str) -> Any:
    """uvicorn's server, printing ``banner`` once it listens: the last thing on the screen
    is where to go (and, with ``--demo``, the credentials), not a start-up log line."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and not self.should_exit:
                print(banner, file=sys.stderr, flush=True)

    return Server(config)


def ready_banner(base_url: str, demo: dict[str, Any] | None) -> str:
    """What ``onward serve`` prints when it is ready: where to go, and the demo's
    credentials (secrets rotated on this run, so these are the ones that work)."""
    lines = [
        "",
        f"Onward is ready: {base_url}/docs (Swagger UI), {base_url}/redoc",
        "Stop it with Ctrl-C (the embedded PostgreSQL stops with the last onward process).",
    ]
    if demo is not None:
        lines += ["", "Demo clients (client_credentials at POST /oauth/token):"]
        for client in demo.get("clients", []):
            lines.append(
                f"  {client['client_id']:<14} secret {client['client_secret']}  "
                f"scopes {' '.join(client['scopes'])}  ({client['organisation']})"
            )
        lines += ["", "Demo leavers (grant urn:onward:grant-type:leaver-pin):"]
        for leaver in demo.get("leavers", []):
            lines.append(f"  {leaver['reference']}  PIN {leaver['pin']}  ({leaver['name']})")
        lines += ["", str(demo.get("note", ""))]
    return "\n".join(lines)


def cmd_stop_database(_: argparse.Namespace) -> int:
    settings = get_settings()
    if embedded.stop_embedded(settings.data_dir):
        print(f"stopped the embedded PostgreSQL in {settings.data_dir / 'pg'}", file=sys.stderr)
    else:
        print(f"no embedded PostgreSQL running in {settings.data_dir / 'pg'}", file=sys.stderr)
    return 0


def _display_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):  # noqa: S104
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host  # an IPv6 address in a URL


def cmd_verify_log(args: argparse.Namespace) -> int:
    """Exit 0 when the chain and every checkpoint hold; else 1, naming the first problem."""
    from pathlib import Path

    from app.audit.verify import verify_log
    from app.main import build_token_service

    external = [Path(f).read_text().strip() for f in args.checkpoint]

    async def job(database: Any, settings: Settings) -> Any:
        verifier = build_token_service(settings)
        async with database.sessionmaker() as session:
            return await verify_log(session, verifier, external)

    report = _with_db(job)
    if not report.ok:
        for problem in report.problems:
            print(f"verify-log: {problem}", file=sys.stderr)
        return 1
    print(
        json.dumps({"ok": True, "sealed_events": report.sealed, "checkpoints": report.checkpoints})
    )
    return 0


def cmd_worker(_: argparse.Namespace) -> int:
    """Run the background work (expiry sweep, log sealing, webhook delivery) and no HTTP,
    until interrupted: for deployments that set ``ONWARD_BACKGROUND_TASKS=false`` on the
    replicas that serve, to keep that CPU off them. Any number may run."""
    import signal

    from app.main import background_workers, build_token_service

    async def job(database: Any, settings: Settings) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        workers = background_workers(database, build_token_service(settings), settings)
        for worker in workers:
            worker.start()
        log.info("worker running: %s", ", ".join(w.name for w in workers))
        try:
            await stop.wait()
        finally:
            for worker in workers:
                await worker.stop()
        return 0

    result: int = _with_db(job)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onward", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--demo", action="store_true", help="load the demo data set (once)")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply the migrations").set_defaults(func=cmd_migrate)
    sub.add_parser(
        "worker",
        help="run the background work (expiry sweep, log sealing, webhook delivery) "
        "without serving HTTP",
    ).set_defaults(func=cmd_worker)
    sub.add_parser(
        "stop-database",
        help="stop the embedded PostgreSQL of ONWARD_DATA_DIR now (it also stops by itself "
        "when the last onward process using it exits)",
    ).set_defaults(func=cmd_stop_database)
    sub.add_parser("openapi", help="print the OpenAPI description as YAML").set_defaults(
        func=cmd_openapi
    )
    sub.add_parser(
        "seed-demo", help="load the demo data set and print its credentials"
    ).set_defaults(func=cmd_seed_demo)

    verify = sub.add_parser(
        "verify-log",
        help="recompute the access log's hash chain and check its signed checkpoints",
    )
    verify.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="a checkpoint JWS kept outside the database (repeatable)",
    )
    verify.set_defaults(func=cmd_verify_log)

    from app.admin_cli import add_admin_commands

    add_admin_commands(sub, _with_db)
    return parser


ISSUER_UNSET = (
    "ONWARD_ISSUER must be set in production: the public https URL clients reach Onward at "
    "(e.g. https://onward.example.org); it is never guessed from the address served on"
)


def settings_problems() -> list[str] | None:
    """Why the environment's settings are refused (e.g. production without a signing key),
    in plain words, or None when they are usable."""
    from pydantic import ValidationError

    problems: list[str] = []
    production = os.environ.get("ONWARD_ENVIRONMENT", "").strip().lower() == "production"
    if production and not os.environ.get("ONWARD_ISSUER", "").strip():
        problems.append(ISSUER_UNSET)
    get_settings.cache_clear()
    try:
        get_settings()
    except ValidationError as exc:
        problems += [
            str(e.get("msg", "invalid setting")).removeprefix("Value error, ") for e in exc.errors()
        ]
    return problems or None


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    quiet_libraries()
    args = build_parser().parse_args(argv)
    # ``serve`` checks them itself: its default issuer depends on the address it serves.
    if args.command != "serve" and (problems := settings_problems()) is not None:
        return _refuse_to_start(problems)
    result: int = args.func(args)
    return result


# Libraries whose INFO lines are noise on a developer's screen (pgserver prints every
# pg_ctl command with its output, Alembic every migration step): warnings and errors only.
QUIET_LOGGERS = ("pgserver", "alembic", "alembic.runtime.migration")


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _refuse_to_start(problems: list[str]) -> int:
    for line in problems:
        print(f"onward: cannot start: {line}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
