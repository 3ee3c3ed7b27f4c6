"""A real Celery worker in its own process, for integration tests.

It runs `celery worker` against the Redis broker of the test settings and the
PostgreSQL *test* database that pytest-django created, so tasks see what a
transactional test committed. Tests may kill it (SIGKILL) and start it again.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from celery import current_app
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


class CeleryWorker:
    def __init__(
        self, log_dir: Path, concurrency: int = 2, env: dict | None = None, queue: str = ""
    ):
        """`queue`: consume only that queue (default: the app's default queue)."""
        self.queue = queue
        self.log_dir = log_dir
        self.concurrency = concurrency
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None
        self.name = ""

    def _environment(self) -> dict:
        database = connection.settings_dict
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="tests.settings",
            DATABASE_URL=(
                f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
                f"/{database['NAME']}"
            ),
            CELERY_BROKER_URL=current_app.conf.broker_url,
            PYTHONPATH=str(ROOT),
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60) -> "CeleryWorker":
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        log = open(self.log_dir / f"worker-{time.time_ns()}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.shifted_clock",  # the test world's clock (TEST_CLOCK_SHIFT_SECONDS)
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={self.concurrency}",
                "--pool=prefork",
                f"--hostname={self.name}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                *([f"--queues={self.queue}"] if self.queue else []),
            ],
            cwd=ROOT,
            env=self._environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until_ready(timeout)
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited with {self.process.returncode}")
            try:
                replies = current_app.control.ping(timeout=0.5)
            except Exception:  # noqa: BLE001 - the broker restarted: the next ping reconnects
                time.sleep(0.2)
                continue
            if any(self.name.split("@")[0] in host for reply in replies for host in reply):
                return
        raise TimeoutError("celery worker did not answer a ping in time")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
