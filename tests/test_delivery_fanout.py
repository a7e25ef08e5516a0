"""Smoke run of benchmarks/fanout.py: correctness only (no duplicates, none missing, no 429), never timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_fanout_benchmark_delivers_each_message_once_without_a_429() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fanout.py"), "--subscribers", "60"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["subscribers"] == 60
    assert (figures["duplicates"], figures["missing"], figures["http_429"]) == (0, 0, 0), done.stdout
