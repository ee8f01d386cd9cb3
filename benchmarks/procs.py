"""Starting servers for a benchmark, and reading their resident memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB (from /proc: Linux only)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (from /proc: Linux only)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Run `python <args>` from the repository root with `env` added, output to `log`."""
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT
    )


def wait_http(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Wait until `url` answers (any status), or fail if the process exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - loopback only
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def server(
    args: Callable[[int], list[str]], env: dict[str, str], ready_path: str, log_name: str
) -> Iterator[tuple[str, int]]:
    """A server process on a free port (`args(port)`, PORT in its environment too): yields (base url,
    pid) once `ready_path` answers; stopped on the way out. Its output goes to bench-<log_name>.log."""
    port = free_port()
    process = start(
        args(port), {**env, "PORT": str(port)}, Path(tempfile.gettempdir()) / f"bench-{log_name}.log"
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + ready_path, process)
        yield base, process.pid
    finally:
        stop(process)
