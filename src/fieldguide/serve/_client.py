"""Client-side helpers for scripts that start a server and talk to it."""

from __future__ import annotations

import socket
import subprocess
import time


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now, for a server this script is about to start."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen | None = None, timeout_s: float = 120) -> None:
    """Poll ``url`` (e.g. ``http://127.0.0.1:8000/v2/health/ready``) until it answers HTTP 200.

    Raises ``RuntimeError`` at once if ``process`` (the server, when this script started it) exits first, and
    ``TimeoutError`` after ``timeout_s`` seconds.
    """
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before {url} was ready")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200 within {timeout_s} s")
