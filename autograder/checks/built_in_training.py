"""Trusted check of built_in_training: the learner's NoisyBatches, balanced_class_weight and train_weighted.

Runs in the learner's kernel right after each task's test cell (see autograder/trusted.py); the
grader compares what each function returns with what it returns for the reference solution. Noise and
training differ between correct answers (their own draws and shuffles), so the probes report what every
correct answer shares: exact slices without noise, coarse statistics of the noise, exact losses of a
model whose learning rate is 0.
"""

import numpy as np


def _seed(rng):
    return int(rng.integers(0, 2**31))


def _same(first, second):
    return bool(np.shape(first) == np.shape(second) and np.array_equal(first, second))


def check_pydataset(rng, ns):
    import keras

    num_samples, batch_size = int(rng.integers(30, 200)), int(rng.integers(3, 40))
    num_features = int(rng.integers(1, 6))
    features = rng.normal(size=(num_samples, num_features)).astype("float32")
    labels = rng.integers(0, 4, size=num_samples)
    original = features.copy()
    slices = [(start, start + batch_size) for start in range(0, num_samples, batch_size)]
    seen = {}
    plain = ns["NoisyBatches"](features, labels, batch_size)
    seen["len(), noise=0"] = int(len(plain))
    seen["batches are the slices, noise=0"] = [
        _same(plain[index][0], features[start:stop]) and _same(plain[index][1], labels[start:stop])
        for index, (start, stop) in enumerate(slices)]

    scale, seed = float(rng.uniform(0.2, 2.0)), _seed(rng)
    zeros = np.zeros((int(rng.integers(300, 500)), 4), dtype="float32")  # at least 1,200 draws of noise
    zero_labels = rng.integers(0, 3, size=len(zeros))
    noisy = ns["NoisyBatches"](zeros, zero_labels, batch_size, noise=scale, seed=seed)
    drawn = [noisy[index] for index in range(len(noisy))]
    values = np.concatenate([np.asarray(batch[0], dtype="float64") for batch in drawn])
    seen["len(), noise > 0"] = int(len(noisy))
    seen["batch shapes, noise > 0"] = [[list(np.shape(batch[0])), list(np.shape(batch[1]))] for batch in drawn]
    seen["labels unchanged, noise > 0"] = _same(np.concatenate([batch[1] for batch in drawn]), zero_labels)
    seen["given arrays unchanged"] = bool(np.all(zeros == 0)) and _same(features, original)
    seen["noise mean near 0"] = bool(abs(values.mean()) < 0.25 * scale)
    seen["noise standard deviation near noise"] = bool(abs(values.std() / scale - 1) < 0.2)
    seen["fresh noise at every call"] = not _same(noisy[0][0], drawn[0][0])
    twin = ns["NoisyBatches"](zeros, zero_labels, batch_size, noise=scale, seed=seed)
    seen["same seed, same first batch"] = _same(twin[0][0], drawn[0][0])

    workers, queue = int(rng.integers(2, 5)), int(rng.integers(2, 20))
    configured = ns["NoisyBatches"](features, labels, batch_size, workers=workers, max_queue_size=queue)
    seen["options reach PyDataset"] = [configured.workers == workers, configured.max_queue_size == queue]

    model = keras.Sequential([keras.Input(shape=(num_features,)), keras.layers.Dense(
        4, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(seed=_seed(rng)))])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(ns["NoisyBatches"](features, labels, batch_size, noise=0.1), epochs=2, verbose=0)
    seen["fit() steps in 2 epochs"] = int(model.optimizer.iterations)
    return seen


def _plain_weights(weights):
    """The returned weights as sorted [key, weight] pairs, keys named by type where they are not integers."""
    if not isinstance(weights, dict):
        return f"returned {type(weights).__name__}"
    pairs = []
    for key, value in weights.items():
        integral = isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_))
        pairs.append([int(key) if integral else f"{type(key).__name__} {key!r}", float(value)])
    return sorted(pairs, key=repr)


def check_class_weight(rng, ns):
    seen = {}
    for index in range(3):
        classes = np.sort(rng.choice(np.arange(9), size=int(rng.integers(2, 6)), replace=False))
        labels = rng.permutation(np.repeat(classes, rng.integers(1, 50, size=len(classes))))
        seen[f"weights ({index})"] = _plain_weights(ns["balanced_class_weight"](labels))
    return seen


def check_weighted_fit(rng, ns):
    import keras
    import tensorflow as tf

    num_features, num_classes = int(rng.integers(2, 6)), int(rng.integers(2, 4))
    num_samples, batch_size, epochs = int(rng.integers(100, 240)), int(rng.integers(8, 50)), 2
    features = rng.normal(size=(num_samples, num_features)).astype("float32")
    labels = rng.integers(0, num_classes, size=num_samples)
    val_features = rng.normal(size=(int(rng.integers(20, 60)), num_features)).astype("float32")
    val_labels = rng.integers(0, num_classes, size=len(val_features))
    weights = {c: float(rng.uniform(0.2, 4.0)) for c in range(num_classes)}

    model = keras.Sequential([keras.Input(shape=(num_features,)), keras.layers.Dense(
        num_classes, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(seed=_seed(rng)))])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
    history = ns["train_weighted"](model, tf.data.Dataset.from_tensor_slices((features, labels)),
                                   tf.data.Dataset.from_tensor_slices((val_features, val_labels)),
                                   class_weight=weights, epochs=epochs, batch_size=batch_size)

    def losses(x, y):  # the model never changes: its learning rate is 0
        probabilities = np.asarray(model(x, training=False), dtype="float64")
        return -np.log(probabilities[np.arange(len(y)), y])

    expected_loss = float(np.mean(losses(features, labels) * np.array([weights[c] for c in labels])))
    expected_val_loss = float(np.mean(losses(val_features, val_labels)))
    logged = getattr(history, "history", None)
    if not isinstance(logged, dict):
        return {"returned": f"{type(history).__name__}, not a History"}
    return {
        "History keys": sorted(str(key) for key in logged),
        "epochs logged": len(logged.get("loss", [])),
        "optimizer steps": int(model.optimizer.iterations),
        "loss is the class-weighted mean": [bool(np.isclose(value, expected_loss, rtol=1e-3))
                                            for value in logged.get("loss", [])],
        "val_loss is the plain mean on val_data": [bool(np.isclose(value, expected_val_loss, rtol=1e-3))
                                                   for value in logged.get("val_loss", [])],
    }
