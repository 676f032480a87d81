"""What the benchmarks share: the real services' settings (``.services/env``) and waiting on a condition."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVICES_ENV = REPO / ".services" / "env"


def services_env() -> dict[str, str]:
    """Return the settings ``scripts/services.sh`` wrote for the real services."""
    pairs = (line.split("=", 1) for line in SERVICES_ENV.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> float:
    """Poll ``condition`` every ``interval`` s; return the seconds waited, raise TimeoutError after ``timeout``."""
    print(f"waiting for {what} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


def cpu_seconds(pid: int | str) -> float:
    """Return the CPU seconds (user + system) a process has used so far, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
