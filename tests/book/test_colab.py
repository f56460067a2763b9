"""Every chapter and every exercise solution runs under Colab's versions, alone, as a learner runs it.

`.ci/install` builds `.venv-colab/` from requirements-colab.txt (Python 3.13 where the machine has it);
each notebook is executed there by tests/book/run_alone.py in an empty folder. The website build and the
exercise tests run the same notebooks under requirements.txt, so together both version sets are covered.
"""
import json
import subprocess
from pathlib import Path

import pytest

from tests import ROOT
from tests.book.test_site import pins

pytestmark = pytest.mark.slow  # each test runs a notebook in a Python of its own

COLAB_PYTHON = ROOT / ".venv-colab" / "bin" / "python"
NOTEBOOKS = sorted(path.relative_to(ROOT).as_posix() for pattern in ("book/*.ipynb", "solutions/*/*.ipynb")
                   for path in ROOT.glob(pattern))


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_runs_alone_under_colab_versions(path):
    assert COLAB_PYTHON.exists(), f"{COLAB_PYTHON} is missing: run `bash .ci/install`, which builds it"
    result = subprocess.run([str(COLAB_PYTHON), str(Path(__file__).with_name("run_alone.py")), str(ROOT / path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"{path} fails under Colab's versions:\n{result.stderr[-6000:]}"
    report = json.loads(result.stdout.splitlines()[-1])
    expected = pins("requirements-colab.txt")
    assert (report["tensorflow"], report["keras"]) == (expected["tensorflow"], expected["keras"]), (
        f"{path} ran under TensorFlow {report['tensorflow']}, Keras {report['keras']}, not Colab's: "
        f"rebuild .venv-colab (rm -r .venv-colab && bash .ci/install)")
    print(f"\n{path}: {report['seconds']} s under Python {report['python']}, TensorFlow {report['tensorflow']}, "
          f"Keras {report['keras']}")
