"""Trusted check of train_step: the learner's training and evaluation steps and CustomModel on fresh data.

Runs in the learner's kernel right after each task's test cell (see autograder/trusted.py); the
grader compares what each function returns with what it returns for the reference solution.
train_step and test_step read the notebook's globals `model`, `loss_fn`, `optimizer`, `metrics` and
`loss_tracking_metric`: each probe sets fresh ones for its calls and puts the notebook's back.
The probe's inputs never have the notebook's 784 features, so a `tf.function` step traced on the
notebook's model is traced again and reads the probe's globals.
"""

import contextlib

import numpy as np

GLOBALS = ("model", "loss_fn", "optimizer", "metrics", "loss_tracking_metric")


def _seed(rng):
    return int(rng.integers(0, 2**31))


def _classifier(rng, num_features, num_classes, model_class=None):
    """A small classifier with a Dropout layer (so training=True and False differ); every seed is explicit."""
    import keras

    inputs = keras.Input(shape=(num_features,))
    hidden = keras.layers.Dense(int(rng.integers(8, 24)), activation="relu",
                                kernel_initializer=keras.initializers.GlorotUniform(seed=_seed(rng)))(inputs)
    hidden = keras.layers.Dropout(float(rng.uniform(0.2, 0.5)), seed=_seed(rng))(hidden)
    outputs = keras.layers.Dense(num_classes, activation="softmax",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed=_seed(rng)))(hidden)
    return (model_class or keras.Model)(inputs, outputs)


def _data(rng, num_samples, num_features, num_classes):
    features = rng.normal(size=(num_samples, num_features)).astype("float32")
    return features, rng.integers(0, num_classes, size=num_samples)


@contextlib.contextmanager
def _notebook_globals(ns, values):
    """Set the step functions' globals for the probe; restore the notebook's (or their absence) afterwards."""
    missing = object()
    saved = {name: ns.get(name, missing) for name in values}
    ns.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                ns.pop(name, None)
            else:
                ns[name] = value


def _step_globals(rng):
    """Fresh objects for the globals the step functions use, and the data to feed them."""
    import keras

    num_features, num_classes = int(rng.integers(5, 20)), int(rng.integers(3, 8))
    model = _classifier(rng, num_features, num_classes)
    optimizer = keras.optimizers.RMSprop(learning_rate=float(rng.uniform(0.005, 0.02)))
    optimizer.build(model.trainable_weights)  # so that a tf.function step creates no variable
    values = {"model": model, "loss_fn": keras.losses.SparseCategoricalCrossentropy(), "optimizer": optimizer,
              "metrics": [keras.metrics.SparseCategoricalAccuracy()], "loss_tracking_metric": keras.metrics.Mean()}
    return values, _data(rng, 200, num_features, num_classes)


def _plain(logs):
    """A step's returned dict as {name: float}, or the type it returned instead."""
    if not isinstance(logs, dict):
        return f"returned {type(logs).__name__}"
    return {str(name): float(value) for name, value in logs.items()}


def _steps(rng, ns, step_name, count_samples):
    """Call ns[step_name] on batches of different sizes: what it returned and changed, and (with
    `count_samples`) the metrics' variables, which count the samples they saw."""
    values, (features, labels) = _step_globals(rng)
    model, optimizer, metrics = values["model"], values["optimizer"], values["metrics"]
    before = [weight.numpy() for weight in model.trainable_weights]
    directions = [rng.normal(size=weight.shape) for weight in before]
    seen = {}
    with _notebook_globals(ns, values):
        for index, size in enumerate(rng.choice(np.arange(5, 60), size=3, replace=False)):
            batch = rng.choice(len(features), size=int(size), replace=False)
            seen[f"returned after batch {index}"] = _plain(ns[step_name](features[batch], labels[batch]))
            seen[f"optimizer steps after batch {index}"] = int(optimizer.iterations)
            if count_samples:
                seen[f"metric variables after batch {index}"] = [[float(variable) for variable in metric.variables]
                                                                for metric in metrics]
    changes = [weight.numpy() - old for weight, old in zip(model.trainable_weights, before)]
    seen["total change of each weight"] = [float(np.abs(change).sum()) for change in changes]
    seen["change of each weight along a random direction"] = [float((change * direction).sum())
                                                              for change, direction in zip(changes, directions)]
    return seen


def check_train_step(rng, ns):
    return _steps(rng, ns, "train_step", count_samples=True)


def check_test_step(rng, ns):
    return _steps(rng, ns, "test_step", count_samples=False)  # as in its tests, which count no samples


def check_custom_model(rng, ns):
    import keras

    num_features, num_classes = int(rng.integers(5, 20)), int(rng.integers(3, 8))
    batch_size = int(rng.integers(8, 33))
    features, labels = _data(rng, batch_size * int(rng.integers(2, 5)) + int(rng.integers(0, batch_size)),
                             num_features, num_classes)
    model = _classifier(rng, num_features, num_classes, ns["CustomModel"])
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=float(rng.uniform(0.001, 0.01))),
                  loss=keras.losses.SparseCategoricalCrossentropy(), metrics=[keras.metrics.SparseCategoricalAccuracy()])
    history = model.fit(features, labels, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return {"History": {str(name): [float(value) for value in values] for name, values in history.history.items()}}
