"""Real servers for tests that need a socket: uvicorn on a free loopback port, one process each."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_reachable(url: str = REDIS_URL) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def require(condition: bool, reason: str) -> None:
    """Skip locally when an external service is missing; under CI=true, fail instead."""
    import pytest

    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


class RedisServer:
    """A private redis-server on a free port, for tests that kill Redis mid-test."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        require(binary is not None, "the redis-server binary is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        arguments = ["--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [str(binary), *arguments, "--dir", str(directory)], stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not redis_reachable(self.url):
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def process_cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) process ``pid`` has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def split_cores() -> tuple[set[int], set[int]]:
    """The server's core and the clients' (the others), when there are two or more: a
    client on the server's core would time its own waiting for the CPU, not the server."""
    cpus = sorted(os.sched_getaffinity(0))
    return ({cpus[0]}, set(cpus[1:])) if len(cpus) > 1 else (set(cpus), set(cpus))


def pin_process(pid: int, cpus: set[int]) -> None:
    """Every thread of process ``pid`` on ``cpus``."""
    for thread in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(thread), cpus)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(app: object) -> Iterator[str]:
    """Run the ASGI ``app`` object under uvicorn in a thread of this process (so the test can
    count its resolvers); yield the server's base URL; stop it on exit."""
    import threading

    import uvicorn

    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
        lifespan="off",
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def serve(
    app: str = "schema_example.app:app",
    env: Mapping[str, str] | None = None,
    pids: list[int] | None = None,
) -> Iterator[str]:
    """Run ``app`` under uvicorn; yield its GraphQL URL; stop it on exit. ``pids`` receives
    the server's process id (to read its memory)."""
    port = free_port()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("GQLGUARD_")
    }
    environment.update(env or {})
    with tempfile.TemporaryFile() as log:
        # The server's log goes to a file: an unread pipe fills up (one security-log line per
        # unknown operation in log_unknown mode) and then blocks the server mid-request.
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-proxy-headers",
            ],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}/graphql"
        if pids is not None:
            pids.append(process.pid)
        try:
            deadline = time.monotonic() + 20
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"server exited: {log.read().decode()[-2000:]}")
                try:
                    httpx.get(url, timeout=1)  # any answer: the server is up
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield url
        finally:
            stop(process)


def stop(process: subprocess.Popen[Any]) -> None:
    """End a server process: asked first, killed if it has not gone in 10 seconds."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
