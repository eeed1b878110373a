"""Starting and stopping: migrations under an advisory lock (API.md §6), the embedded
PostgreSQL's lifetime (it stops with the last ``onward`` process), quiet start-up output."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from app import embedded
from app.migrate import head_revision, upgrade
from tests.conftest import ROOT, TEST_DATA_DIR
from tests.serving import free_port

ONWARD = str(Path(sys.executable).parent / "onward")


# --- migrations: replicas starting together migrate once ----------------------------------


async def test_two_concurrent_upgrades_of_a_fresh_database_both_succeed_and_migrate_once(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    parts = urlsplit(database_url)
    admin_dsn = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    name = f"onward_race_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = urlunsplit(parts._replace(path="/" + name))
        with caplog.at_level(logging.INFO, logger="alembic.runtime.migration"):
            # Bounded: without the lock the racing upgrades deadlock on each other's DDL.
            await asyncio.wait_for(asyncio.gather(upgrade(url), upgrade(url), upgrade(url)), 120)
        steps = [r.getMessage() for r in caplog.records if "Running upgrade" in r.getMessage()]
        revisions = [s.split("->")[-1].split(",")[0].strip() for s in steps]
        # Each migration ran exactly once, and the last one is the head.
        assert len(revisions) == len(set(revisions)), steps
        assert revisions[-1] == head_revision()
        conn = await asyncpg.connect(
            urlunsplit(parts._replace(scheme="postgresql", path="/" + name))
        )
        try:
            assert await conn.fetchval("SELECT version_num FROM alembic_version") == head_revision()
            # The lock is released: nobody holds it once the upgrades are done.
            assert (
                await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
                == 0
            )
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


# --- the embedded PostgreSQL stops with the last onward process ---------------------------


def _environment(data_dir: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("ONWARD_") and k != "DATABASE_URL"
    }
    env.update(ONWARD_DATA_DIR=str(data_dir), ONWARD_ENVIRONMENT="development")
    return env


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Under the test data dir: the embedded server's user can reach it when run as root.
    TEST_DATA_DIR.mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="life-", dir=TEST_DATA_DIR))
    try:
        yield path
    finally:
        embedded.stop_embedded(path)
        shutil.rmtree(path, ignore_errors=True)


def test_embedded_postgres_stops_when_the_last_onward_process_exits(data_dir: Path) -> None:
    port = free_port()
    env = _environment(data_dir)
    serve = subprocess.Popen(
        [ONWARD, "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert serve.poll() is None, serve.stdout.read() if serve.stdout else ""
            time.sleep(0.3)
        else:
            pytest.fail("onward serve was not ready within 120 s")
        postgres = embedded.running_pid(data_dir)
        assert postgres is not None

        # A second onward process using the same cluster exits: the server keeps it.
        migrate = subprocess.run(
            [ONWARD, "migrate"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert migrate.returncode == 0, migrate.stderr
        assert embedded.running_pid(data_dir) == postgres
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200

        # The last one stops (Ctrl-C): PostgreSQL goes with it.
        serve.send_signal(signal.SIGINT)
        output, _ = serve.communicate(timeout=60)
        assert serve.returncode == 0, output
        assert _gone(postgres, within=30), "the embedded PostgreSQL outlived its last user"
        assert embedded.running_pid(data_dir) is None
        # Quiet: no pgserver command dumps, no Alembic steps, no tracebacks; the ready
        # banner is the last thing before the shutdown lines.
        assert "Running commandline" not in output, output
        assert "pg_ctl" not in output, output
        assert "Running upgrade" not in output, output
        assert "Traceback" not in output, output
        assert f"Onward is ready: http://127.0.0.1:{port}/docs" in output
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def test_a_killed_holder_does_not_keep_the_database_up(data_dir: Path) -> None:
    """A process killed with SIGKILL never removes its pid from the holders' list; the
    next process prunes it, so the cluster still stops with the last live user."""
    env = _environment(data_dir)
    killed = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from app import embedded; "
            "embedded.start_embedded(Path(sys.argv[1])); print('up', flush=True); "
            "time.sleep(600)",
            str(data_dir),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert killed.stdout is not None
    assert killed.stdout.readline().strip() == "up"
    postgres = embedded.running_pid(data_dir)
    assert postgres is not None
    killed.kill()
    killed.wait()
    assert embedded.running_pid(data_dir) == postgres  # nobody stopped it

    done = subprocess.run(
        [ONWARD, "migrate"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert _gone(postgres, within=30), "a dead holder kept the embedded PostgreSQL running"


def test_stop_database_stops_it_at_once(data_dir: Path) -> None:
    env = _environment(data_dir)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from app import embedded; "
            "embedded.start_embedded(Path(sys.argv[1])); print('up', flush=True); "
            "time.sleep(600)",
            str(data_dir),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "up"
        postgres = embedded.running_pid(data_dir)
        assert postgres is not None
        done = subprocess.run(
            [ONWARD, "stop-database"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert "stopped the embedded PostgreSQL" in done.stderr
        assert _gone(postgres, within=30)
    finally:
        holder.kill()
        holder.wait()
