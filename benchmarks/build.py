"""Benchmark the website build: cold (empty execution cache), cached rebuild, and each notebook's run time.

    .venv/bin/python benchmarks/build.py

Builds into a temporary folder, so the repository's own _build/ is left alone. Uses the MNIST subset
(KDD_OFFLINE=1) like CI. Prints a Markdown table to paste into a closing note or PR.
"""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")


def build(output: Path) -> float:
    started = time.perf_counter()
    subprocess.run([str(JUPYTER_BOOK), "build", str(ROOT), "--path-output", str(output), "-W", "--keep-going"],
                   cwd=ROOT, check=True, capture_output=True, env={**os.environ, "KDD_OFFLINE": "1"})
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder)
        cold, cached = build(output), build(output)
        records = get_cache(output / "_build" / ".jupyter_cache").list_cache_records()
        print(f"| build | seconds |\n|---|---|\n| cold (every notebook executed) | {cold:.0f} |\n"
              f"| cached rebuild (nothing changed) | {cached:.0f} |\n")
        print("| notebook | execution seconds |\n|---|---|")
        for record in sorted(records, key=lambda r: r.uri):
            print(f"| {Path(record.uri).relative_to(ROOT)} | {record.data['execution_seconds']:.1f} |")


if __name__ == "__main__":
    main()
