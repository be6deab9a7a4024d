"""The import rules of DESIGN.md ("Parts and who may import whom"), as a failing test:
the shared core imports neither side, the producer never imports the worker, boto3 or
the launcher, and the worker takes only the core and the request models from the
producer side."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

#: What the worker may import from the producer package: the request models.
WORKER_MAY_IMPORT = {"producer.requests", "producer.refid"}
AWS = ("boto3", "botocore")


def imports(package: str) -> list[tuple[Path, str, bool]]:
    """(file, imported module, at module level) for every import in a package."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text())
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [(path, name, id(node) in top) for name in names]
    return found


def under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_core_imports_neither_side() -> None:
    bad = [
        (p.name, m)
        for p, m, _ in imports("otpq_core")
        if under(m, "producer", "worker", "otpq_local", "sandbox", *AWS)
    ]
    assert bad == []


def test_the_producer_never_imports_the_worker_boto3_or_the_launcher() -> None:
    bad = []
    for path, module, top in imports("producer"):
        if under(module, "worker", *AWS):
            bad.append((path.name, module))
        # The CLI starts `otpq up` and the sandbox on demand, importing them lazily.
        lazy_ok = path.name == "cli.py" and not top
        if under(module, "otpq_local", "sandbox") and not lazy_ok:
            bad.append((path.name, module))
    assert bad == []


def test_the_worker_takes_only_the_core_and_the_request_models() -> None:
    bad = [
        (p.name, m)
        for p, m, _ in imports("worker")
        if (under(m, "producer") and m not in WORKER_MAY_IMPORT)
        or under(m, "otpq_local", "sandbox")
    ]
    assert bad == []


@pytest.mark.parametrize("entry", ["producer", "producer.cli", "producer.campaign"])
def test_importing_the_producer_loads_no_launcher_worker_or_aws(entry: str) -> None:
    probe = (
        f"import sys, {entry}; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('otpq_local', 'worker', 'boto3', 'botocore', 'sandbox')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
