"""Benchmarks are never run by the suite (timings do not belong in tests), but each
must still start: a renamed helper once left `bench/bulk_batch.py` failing at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

SCRIPTS = sorted(p for p in (ROOT / "bench").glob("*.py") if p.name != "__init__.py")


def test_every_benchmark_is_found() -> None:
    assert {"run.py", "throughput.py", "bulk_batch.py"} <= {p.name for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_imports(script: Path) -> None:
    """Import each module the way `python bench/<name>.py` does, without running main."""
    code = (
        "import runpy, sys; sys.path.insert(0, sys.argv[1]); "
        "runpy.run_path(sys.argv[2], run_name='bench_import_check')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"REDIS_URL": "redis://127.0.0.1:1/0", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
