"""A PostgreSQL server of the test's own, which the test may crash and restart.

The machine's cluster holds every other test database, so a fault test never
restarts it: it starts a throw-away cluster (initdb in a temporary directory,
a free loopback port), moves this process's Django connection and the
processes it starts onto it (`database_on`), and restarts *that* one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from django.core.management import call_command
from django.db import connection

from tests.integration.sms_world import free_port, wait_until

SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",
    # A crash of the server process (what the tests do) loses nothing committed
    # without fsync; only an operating-system crash would.
    "fsync": "off",
    "full_page_writes": "off",
}


def _binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found[-1]:
        raise RuntimeError(f"PostgreSQL's {name} not found: the chaos tests need the server")
    return found[-1]


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user if we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PrivatePostgres:
    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.log_dir = log_dir
        self.data = Path(tempfile.mkdtemp(prefix="surveillance-pg-"))
        self.process: subprocess.Popen | None = None
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [_binary("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]
            ),
            check=True,
            capture_output=True,
        )

    def url(self, name: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def start(self, timeout: float = 120) -> PrivatePostgres:
        options = [
            arg for key, value in SERVER_SETTINGS.items() for arg in ("-c", f"{key}={value}")
        ]
        log = open(self.log_dir / f"postgres-{time.time_ns()}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            _as_postgres(
                [
                    _binary("postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.data),
                    *options,
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self.accepts_connections, timeout, interval=0.1)
        return self

    def accepts_connections(self) -> bool:
        """the server accepts connections"""
        try:
            psycopg.connect(self.url(), connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    def crash(self) -> None:
        """An immediate shutdown (SIGQUIT to the postmaster): every session is cut, open
        transactions are lost, the next start runs crash recovery."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGQUIT)
            self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self.data, ignore_errors=True)


@contextlib.contextmanager
def database_on(server: PrivatePostgres):
    """Point this process's Django connection (and so every CeleryWorker or web server it
    starts, which read it) at a fresh database on `server`, migrated; back afterwards."""
    settings_dict = connection.settings_dict
    saved = {key: settings_dict[key] for key in ("HOST", "PORT", "NAME", "USER")}
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{saved["NAME"]}"')
    connection.close()
    settings_dict.update(HOST="127.0.0.1", PORT=str(server.port), USER="postgres")
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield server
    finally:
        connection.close()
        settings_dict.update(saved)


def reconnect_after_errors(query):
    """Run `query` (a callable using the ORM); on a lost server connection, drop it so the
    next call opens a fresh one, and answer None."""
    from django.db import Error

    try:
        return query()
    except Error:
        connection.close()
        return None
