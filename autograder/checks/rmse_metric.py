"""Trusted check of rmse_metric: the learner's RootMeanSquaredError on inputs drawn at grading time.

Runs in the learner's kernel right after each task's test cell (see autograder/trusted.py); the
grader compares what each function returns with what it returns for the reference solution.
"""

import numpy as np


def _batch(rng, size, num_classes):
    labels = rng.integers(0, num_classes, size=size)
    logits = rng.normal(size=(size, num_classes)) * 2
    return labels, (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype("float32")


def _result(metric):
    return float(metric.result())


def check_one_batch(rng, ns):
    metric = ns["RootMeanSquaredError"]()
    seen = {"default name": metric.name, "result() before any update": _result(metric)}
    for index, size in enumerate(rng.choice(np.arange(1, 60), size=3, replace=False)):
        metric = ns["RootMeanSquaredError"]()
        metric.update_state(*_batch(rng, int(size), int(rng.integers(2, 12))))
        seen[f"result() after one batch ({index})"] = _result(metric)
    return seen


def check_streaming(rng, ns):
    metric, seen = ns["RootMeanSquaredError"](), {}
    for round_ in range(2):
        num_classes = int(rng.integers(2, 10))
        for size in rng.choice(np.arange(1, 40), size=int(rng.integers(3, 6)), replace=False):
            metric.update_state(*_batch(rng, int(size), num_classes))
        seen[f"result() after several batches ({round_})"] = _result(metric)
        metric.reset_state()
        seen[f"result() after reset_state() ({round_})"] = _result(metric)
    return seen


def _classifier(rng, num_features, num_classes):
    import keras

    initializer = keras.initializers.GlorotUniform(seed=int(rng.integers(0, 2**31)))
    return keras.Sequential([keras.Input(shape=(num_features,)),
                             keras.layers.Dense(num_classes, activation="softmax", kernel_initializer=initializer)])


def check_in_fit(rng, ns):
    import keras

    num_classes, num_features = int(rng.integers(2, 6)), int(rng.integers(2, 8))
    features = rng.normal(size=(int(rng.integers(60, 160)), num_features)).astype("float32")
    labels = rng.integers(0, num_classes, size=len(features))
    seen = {}
    for shape, targets in (("(n, 1)", labels.reshape(-1, 1)), ("(n,)", labels)):
        model = _classifier(rng, num_features, num_classes)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                      metrics=[ns["RootMeanSquaredError"]()])
        batch_size = int(rng.integers(7, 45))
        history = model.fit(features, targets, batch_size=batch_size, epochs=2, validation_split=0.25,
                            shuffle=False, verbose=0)
        seen[f"History keys, labels {shape}"] = sorted(history.history)
        seen[f"History rmse, labels {shape}"] = [float(value) for value in history.history.get("rmse", [])]
        scores = model.evaluate(features, targets, batch_size=batch_size, verbose=0, return_dict=True)
        seen[f"evaluate() rmse, labels {shape}"] = float(scores.get("rmse", float("nan")))
    return seen


def check_sample_weight(rng, ns):
    num_classes, seen = int(rng.integers(2, 10)), {}
    metric = ns["RootMeanSquaredError"]()
    for index, size in enumerate(rng.choice(np.arange(2, 40), size=3, replace=False)):
        labels, probabilities = _batch(rng, int(size), num_classes)
        weights = rng.uniform(0.0, 3.0, size=int(size)) * (rng.uniform(size=int(size)) > 0.2)
        metric.update_state(labels.reshape(-1, 1), probabilities,
                            sample_weight=weights.reshape(-1, 1) if index % 2 else weights)
        seen[f"result() after weighted batch {index}"] = _result(metric)
    metric.reset_state()
    metric.update_state(*_batch(rng, 5, num_classes))
    seen["result() without weights"] = _result(metric)
    num_features = int(rng.integers(2, 8))
    features = rng.normal(size=(int(rng.integers(60, 160)), num_features)).astype("float32")
    model = _classifier(rng, num_features, num_classes)
    model.compile(loss="sparse_categorical_crossentropy", weighted_metrics=[ns["RootMeanSquaredError"]()])
    scores = model.evaluate(features, rng.integers(0, num_classes, size=len(features)),
                            sample_weight=rng.uniform(0.0, 3.0, size=len(features)),
                            batch_size=int(rng.integers(7, 45)), verbose=0, return_dict=True)
    seen["evaluate(sample_weight=...) rmse"] = float(scores.get("rmse", float("nan")))
    return seen
