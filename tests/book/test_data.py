"""The offline MNIST subset and the loader every notebook's setup cell defines."""
import numpy as np
import pytest

from tests import ROOT


@pytest.fixture(scope="module")
def setup_namespace():
    """Run the shared setup code (book/_setup/*.py) the way a notebook's first cell does."""
    namespace = {}
    for part in ("common.py", "mnist.py"):
        exec(compile((ROOT / "book/_setup" / part).read_text(), part, "exec"), namespace)
    return namespace


def test_subset_is_balanced_real_mnist():
    with np.load(ROOT / "data/mnist-subset.npz") as data:
        assert data["x_train"].shape == (4000, 28, 28) and data["x_test"].shape == (1000, 28, 28)
        assert data["x_train"].dtype == np.uint8 and data["x_train"].max() == 255
        assert np.bincount(data["y_train"]).tolist() == [400] * 10
        assert np.bincount(data["y_test"]).tolist() == [100] * 10


@pytest.mark.slow
def test_offline_variable_selects_the_subset_and_says_so(setup_namespace, monkeypatch, capsys):
    monkeypatch.setenv("KDD_OFFLINE", "1")
    monkeypatch.chdir(ROOT / "book")
    (train_images, train_labels), (test_images, _) = setup_namespace["load_mnist"]()
    assert train_images.shape == (4000, 28, 28) and test_images.shape == (1000, 28, 28)
    assert "MNIST subset in data/ because KDD_OFFLINE=1 is set" in capsys.readouterr().out


def test_failed_download_falls_back_loudly(setup_namespace, monkeypatch, capsys):
    def no_network():
        raise ConnectionError("no route to host")

    monkeypatch.delenv("KDD_OFFLINE", raising=False)
    monkeypatch.setattr(setup_namespace["keras"].datasets.mnist, "load_data", no_network)
    monkeypatch.chdir(ROOT / "tests")
    (train_images, _), _ = setup_namespace["load_mnist"]()
    assert len(train_images) == 4000
    assert "because the download failed (ConnectionError)" in capsys.readouterr().out


def test_no_network_and_no_repository_is_a_clear_error(setup_namespace, monkeypatch, tmp_path):
    monkeypatch.setenv("KDD_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="Connect to the internet"):
        setup_namespace["load_mnist"]()
