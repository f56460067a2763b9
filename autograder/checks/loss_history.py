"""Trusted check of loss_history: the learner's LossHistory and batch_losses on inputs drawn at grading time.

Runs in the learner's kernel right after each task's test cell (see autograder/trusted.py); the
grader compares what each function returns with what it returns for the reference solution.
"""

import numpy as np


def _regression(rng, num_samples):
    """Features and targets of a linear problem with noise, drawn from rng."""
    num_features = int(rng.integers(3, 10))
    weights = rng.normal(size=(num_features, 1))
    features = rng.normal(size=(num_samples, num_features)).astype("float32")
    targets = (features @ weights + 0.5 * rng.normal(size=(num_samples, 1))).astype("float32")
    return features, targets


def _figure(figure):
    """What a saved figure shows: each line's y values, whether both axes are labelled, whether it has a legend."""
    axes = figure.get_axes()
    return {"lines": [np.asarray(line.get_ydata(), dtype=float).tolist() for ax in axes for line in ax.get_lines()],
            "axes labelled": bool(axes) and all(bool(ax.get_xlabel() and ax.get_ylabel()) for ax in axes),
            "legend": bool(figure.legends) or any(ax.get_legend() is not None for ax in axes)}


def check_callback(rng, ns):
    import os
    import shutil
    import tempfile
    from pathlib import Path

    import keras
    import matplotlib.figure
    import matplotlib.pyplot as plt

    num_train, num_val = int(rng.integers(30, 100)), int(rng.integers(10, 30))
    features, targets = _regression(rng, num_train + num_val)
    initial_epoch = int(rng.integers(1, 4))  # the first epoch's number is initial_epoch, not 0
    model = keras.Sequential([keras.Input(shape=(features.shape[1],)), keras.layers.Dense(
        1, kernel_initializer=keras.initializers.GlorotUniform(seed=int(rng.integers(0, 2**31))))])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    callback = ns["LossHistory"]()
    callback.per_batch_losses = [float(rng.uniform(50, 100))]  # left over from before: fit() must start afresh

    saved, open_counts, savefig = [], [], matplotlib.figure.Figure.savefig

    def listing():
        return {path.name: (path.stat().st_mtime_ns, path.stat().st_size) for path in Path.cwd().iterdir()}

    def recording_savefig(figure, fname, *args, **kwargs):
        # judged by the file that lands on disk, as a learner would judge it: savefig("plot_at_epoch_0") writes
        # plot_at_epoch_0.png too (matplotlib adds the format's extension), so it is as good as the reference
        before, shown = listing(), _figure(figure)
        returned = savefig(figure, fname, *args, **kwargs)
        written = sorted(name for name, stamp in listing().items() if before.get(name) != stamp)
        saved.append({"files": written, **shown})
        open_counts.append(len(plt.get_fignums()))
        return returned

    folder, workdir = Path.cwd(), tempfile.mkdtemp()
    open_before = set(plt.get_fignums())
    os.chdir(workdir)  # the callback writes its plots into the working directory
    matplotlib.figure.Figure.savefig = recording_savefig
    try:
        model.fit(features[:num_train], targets[:num_train], batch_size=int(rng.integers(6, 30)),
                  initial_epoch=initial_epoch, epochs=initial_epoch + 2, shuffle=False, verbose=0,
                  validation_data=(features[num_train:], targets[num_train:]), callbacks=[callback])
        files = sorted(path.name for path in Path.cwd().glob("plot_at_epoch_*.png"))
        open_after = len(plt.get_fignums())
    finally:
        matplotlib.figure.Figure.savefig = savefig
        os.chdir(folder)
        shutil.rmtree(workdir, ignore_errors=True)
        for number in set(plt.get_fignums()) - open_before:  # leave the notebook's figures as they were
            plt.close(number)
    return {"files written": files, "figures saved": saved,
            "open figures pile up": len(set(open_counts)) > 1 or open_after > len(open_before) + 1,
            "per_batch_losses after fit()": [float(value) for value in callback.per_batch_losses]}


def check_batch_losses(rng, ns):
    cases = [([4.0, 3.0, 2.6], [10, 10, 5])]  # the worked example: own losses 4, 2 and 1
    for _ in range(3):
        sizes = rng.integers(1, 64, size=int(rng.integers(2, 12)))
        own = rng.uniform(0.01, 5.0, size=len(sizes))
        cases.append(((np.cumsum(own * sizes) / np.cumsum(sizes)).tolist(), sizes.tolist()))
    return {f"batch_losses of case {index}": np.asarray(ns["batch_losses"](means, sizes), dtype=float).tolist()
            for index, (means, sizes) in enumerate(cases)}
