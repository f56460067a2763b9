"""Run one notebook as a learner's Colab runs it: alone in an empty folder, top to bottom, one kernel.

    PYTHON tests/book/run_alone.py NOTEBOOK [EXECUTED]

The kernel is PYTHON itself, so `.venv-colab/bin/python tests/book/run_alone.py book/01-...ipynb` runs the
chapter under Colab's versions (requirements-colab.txt) and `.venv/bin/python ...` under CI's. The
folder holds only a copy of the notebook and, if the notebook loads MNIST, `data/mnist-subset.npz`: it
stands in for the download that Colab makes and this offline machine cannot (`KDD_OFFLINE=1`). Prints one
JSON line: the versions the notebook's setup cell printed, Python's, and the execution time. A cell that
raises ends the run with its traceback and exit status 1. EXECUTED, if given, receives the executed
notebook (to read its outputs). Used by tests/book/test_colab.py and
benchmarks/notebooks.py.
"""
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[2]
SUBSET = ROOT / "data" / "mnist-subset.npz"
CELL_TIMEOUT_S = 900  # only a notebook that hangs meets it: CI's whole budget for one is two minutes


def kernel_spec(folder: Path) -> Path:
    """A Jupyter data folder whose only kernel, `alone`, is this Python (not whatever `python3` resolves to)."""
    spec = folder / "kernels" / "alone"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python {sys.version.split()[0]}", "language": "python"}), encoding="utf-8")
    return folder


def run(notebook: Path, nb: nbformat.NotebookNode) -> dict:
    """Execute nb, read from notebook, in place."""
    with tempfile.TemporaryDirectory(prefix="kdd-alone-") as scratch:
        folder, jupyter = Path(scratch) / "content", kernel_spec(Path(scratch) / "jupyter")
        folder.mkdir()
        shutil.copy(notebook, folder / notebook.name)
        if any("load_mnist(" in cell.source for cell in nb.cells if cell.cell_type == "code"):
            (folder / "data").mkdir()
            shutil.copy(SUBSET, folder / "data" / SUBSET.name)
        os.environ.update(KDD_OFFLINE="1", JUPYTER_PATH=str(jupyter), PYDEVD_DISABLE_FILE_VALIDATION="1")
        client = NotebookClient(nb, kernel_name="alone", timeout=CELL_TIMEOUT_S,
                                resources={"metadata": {"path": str(folder)}})
        started = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - started
    setup = "".join(output.get("text", "") for output in nb.cells[[c.cell_type for c in nb.cells].index("code")].outputs)
    versions = re.search(r"TensorFlow (\S+), Keras (\S+) ", setup)
    return {"notebook": notebook.name, "python": sys.version.split()[0], "seconds": round(seconds, 1),
            "tensorflow": versions and versions[1], "keras": versions and versions[2]}


def main() -> int:
    notebook = Path(sys.argv[1]).resolve()
    executed = nbformat.read(notebook, as_version=4)
    try:
        report = run(notebook, executed)
    except CellExecutionError as error:
        print(f"{notebook.name} failed under Python {sys.version.split()[0]}:\n{error}", file=sys.stderr)
        return 1
    finally:
        if len(sys.argv) > 2:
            nbformat.write(executed, sys.argv[2])
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
