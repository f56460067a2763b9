"""Each chapter's and solution's execution time under both version sets, run alone as Colab runs it.

    .venv/bin/python benchmarks/notebooks.py [--rounds N]

Runs tests/book/run_alone.py with `.venv/bin/python` (requirements.txt: the website's versions) and with
`.venv-colab/bin/python` (requirements-colab.txt: Colab's), taking turns notebook by notebook so that
whatever else the machine does slows both alike, and prints a Markdown table of the median seconds.
Uses the MNIST subset (KDD_OFFLINE=1) like CI; Colab itself trains on the full data set on a GPU.
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tests" / "book" / "run_alone.py"
ENVIRONMENTS = {"CI (requirements.txt)": ROOT / ".venv" / "bin" / "python",
                "Colab (requirements-colab.txt)": ROOT / ".venv-colab" / "bin" / "python"}


def run(python: Path, notebook: Path) -> dict:
    done = subprocess.run([str(python), str(RUNNER), str(notebook)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{notebook.name} failed under {python}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="runs of each notebook in each environment")
    rounds = parser.parse_args().rounds
    notebooks = sorted([*ROOT.glob("book/*.ipynb"), *ROOT.glob("solutions/*/*.ipynb")])
    seconds = {(notebook, name): [] for notebook in notebooks for name in ENVIRONMENTS}
    versions = {}
    for _ in range(rounds):
        for notebook in notebooks:
            for name, python in ENVIRONMENTS.items():
                report = run(python, notebook)
                seconds[notebook, name].append(report["seconds"])
                versions[name] = f"Python {report['python']}, TensorFlow {report['tensorflow']}, Keras {report['keras']}"
    print(" | ".join(f"{name}: {version}" for name, version in versions.items()), "\n")
    print("| notebook | " + " | ".join(f"{name}, s" for name in ENVIRONMENTS) + " |")
    print("|---|" + "---|" * len(ENVIRONMENTS))
    for notebook in notebooks:
        cells = " | ".join(f"{statistics.median(seconds[notebook, name]):.1f}" for name in ENVIRONMENTS)
        print(f"| {notebook.relative_to(ROOT)} | {cells} |")
    totals = " | ".join(f"{sum(statistics.median(seconds[n, name]) for n in notebooks):.0f}" for name in ENVIRONMENTS)
    print(f"| **all** | {totals} |")


if __name__ == "__main__":
    main()
