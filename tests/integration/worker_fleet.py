"""A fleet of ``upwell worker`` processes and a private Redis server, for fault tests.

The Redis server runs with ``appendonly yes`` and ``appendfsync always`` on a free port
in a temporary directory, so a SIGKILL loses nothing it acknowledged; tests kill and
restart it while workers run. Each worker is a separate Python process running the
``upwell worker`` command; tests kill them with SIGKILL and start them again under the
same name.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from integration.brokers import free_port, unavailable

RUN_WORKER = "import typer; from upwell.cli.worker import worker; typer.run(worker)"
FEATURES_PY = """
from datetime import datetime

import upwell as uw

customer = uw.Entity(name="customer", keys=("cid",))
tx = uw.EventSource(
    name="tx",
    schema={"tid": int, "cid": int, "amount": float, "ts": datetime},
    timestamp="ts",
    event_id="tid",
    entities=(customer,),
    allowed_lateness="30d",
)
spend = uw.FeatureView(
    name="spend",
    entity=customer,
    source=tx,
    features=(
        uw.Feature(name="n", aggregation=uw.Count()),
        uw.Feature(name="total", aggregation=uw.Sum("amount")),
        uw.Feature(name="n_1d", aggregation=uw.Count(), window="1d"),
        uw.Feature(name="total_1d", aggregation=uw.Sum("amount"), window="1d"),
    ),
)
"""


def write_project(directory: Path) -> Path:
    """A project directory with the fleet's definitions."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "upwell.toml").write_text('[project]\nname = "fleet"\n')
    (directory / "features.py").write_text(FEATURES_PY)
    return directory


@dataclass
class RedisServer:
    """A redis-server of our own, durable on every write."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not on PATH")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping():
                    break
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.exceptions.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    unavailable(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class WorkerProcess:
    """One ``upwell worker`` process; its output goes to a file."""

    def __init__(self, name: str, args: list[str], directory: Path) -> None:
        self.name = name
        self.args = args
        self.output = directory / f"{name}.out"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with open(self.output, "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-c", RUN_WORKER, *self.args, "--name", self.name],
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Wait until the process has connected (it prints a line per start)."""
        deadline = time.monotonic() + timeout_s
        while self.output.read_text(errors="replace").count(" consuming ") < self.starts:
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                msg = f"worker {self.name} did not start:\n{self.log()}"
                raise AssertionError(msg)
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM, then wait for a clean exit; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            return -9

    def log(self) -> str:
        return self.output.read_text(errors="replace")[-4000:]
