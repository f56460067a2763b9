"""Trusted check of gradient_tape: the learner's training_step, Linear and train_classifier on fresh inputs.

Runs in the learner's kernel right after each task's test cell (see autograder/trusted.py); the
grader compares what each function returns with what it returns for the reference solution.
Every value is one that all correct answers share: numbers computed from inputs drawn from `rng`,
shapes, and booleans about behaviour (never names of variables or the learner's random initial values).
"""

import numpy as np


def _loss(value):
    """A returned loss as a float, or what it was instead."""
    if value is None:
        return "returned None"
    array = np.asarray(value)
    if array.size != 1:
        return f"returned a loss of shape {list(array.shape)}"
    return float(array.reshape(()))


def check_training_step(rng, ns):
    import tensorflow as tf

    num_features, num_outputs, batch_size = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(2, 40))
    W = tf.Variable(rng.normal(size=(num_features, num_outputs)).astype("float32"))
    b = tf.Variable(rng.normal(size=(num_outputs,)).astype("float32"))
    learning_rate, seen = float(rng.uniform(0.01, 0.2)), {}
    for step in range(3):
        inputs = rng.normal(size=(batch_size, num_features)).astype("float32")
        targets = rng.normal(size=(batch_size, num_outputs)).astype("float32")
        seen[f"loss returned by step {step}"] = _loss(ns["training_step"](W, b, inputs, targets, learning_rate))
        seen[f"W after step {step}"] = W.numpy().tolist()
        seen[f"b after step {step}"] = b.numpy().tolist()
    return seen


def check_linear_layer(rng, ns):
    import keras

    seen = {}
    for index in range(2):
        num_features, units, batch_size = int(rng.integers(1, 9)), int(rng.integers(1, 6)), int(rng.integers(1, 30))
        if batch_size == num_features:
            batch_size += 1  # so that the batch size read as the number of features shows
        layer = ns["Linear"](units, name=f"probe_linear_{index}")
        seen[f"name ({index})"] = layer.name
        seen[f"weights before the first call ({index})"] = len(layer.weights)
        inputs = rng.normal(size=(batch_size, num_features)).astype("float32")
        seen[f"output shape ({index})"] = list(layer(inputs).shape)
        seen[f"trainable weights ({index})"] = sorted(list(weight.shape) for weight in layer.trainable_weights)
        seen[f"kernel and bias shapes ({index})"] = [list(layer.kernel.shape), list(layer.bias.shape)]
        limit = np.sqrt(6 / (num_features + units))
        kernel = layer.kernel.numpy()
        seen[f"initial kernel is glorot_uniform-like ({index})"] = bool(np.any(kernel != 0) and np.all(np.abs(kernel) <= limit))
        seen[f"initial bias is zero ({index})"] = bool(np.all(layer.bias.numpy() == 0))
        layer.kernel.assign(rng.normal(size=(num_features, units)).astype("float32"))
        layer.bias.assign(rng.normal(size=(units,)).astype("float32"))
        seen[f"outputs with given weights ({index})"] = np.asarray(layer(inputs)).tolist()
    num_features, units = int(rng.integers(2, 9)), int(rng.integers(1, 6))
    model = keras.Sequential([keras.Input(shape=(num_features,)), ns["Linear"](units)])
    seen["Sequential output shape"] = list(model(rng.normal(size=(3, num_features)).astype("float32")).shape)
    seen["Sequential trainable weights"] = len(model.trainable_weights)
    return seen


def _points(rng, num_points, num_features):
    """Points labelled by a plane drawn from rng, none closer than 0.5 to it."""
    direction = rng.normal(size=num_features)
    direction /= np.linalg.norm(direction)
    offset = float(rng.uniform(-0.5, 0.5))
    chosen = np.empty((0, num_features), dtype="float32")
    while len(chosen) < 2 * num_points:
        candidates = rng.uniform(-3.0, 3.0, size=(2 * num_points, num_features)).astype("float32")
        chosen = np.concatenate([chosen, candidates[np.abs(candidates @ direction - offset) > 0.5]])
    labels = (chosen @ direction - offset > 0).astype("float32").reshape(-1, 1)
    return (chosen[:num_points], labels[:num_points]), (chosen[num_points:2 * num_points], labels[num_points:2 * num_points])


def check_classifier(rng, ns):
    import keras

    # never the 2 features of the example; never the 4 epochs of the visible test, nor a count up to 5 that an
    # answer might hard-code and the hidden test might draw
    num_features, epochs = int(rng.integers(3, 6)), int(rng.integers(6, 9))
    (inputs, labels), (held_out, held_out_labels) = _points(rng, int(rng.integers(120, 200)), num_features)
    returned = ns["train_classifier"](inputs, labels, epochs)
    seen = {"returned a pair": isinstance(returned, (tuple, list)) and len(returned) == 2}
    if not seen["returned a pair"]:
        return seen
    model, history = returned
    seen["first item is a Keras model"] = isinstance(model, keras.Model)
    seen["second item is a History"] = isinstance(history, keras.callbacks.History)
    if not (seen["first item is a Keras model"] and seen["second item is a History"]):
        return seen
    seen["History keys"] = sorted(history.history)
    seen["epochs in History"] = {name: len(values) for name, values in history.history.items()}
    outputs = np.asarray(model(held_out))
    seen["output shape"] = list(outputs.shape)
    seen["outputs are logits (some outside [0, 1])"] = bool(outputs.min() < 0 or outputs.max() > 1)
    accuracy = float(np.mean((outputs > 0) == (held_out_labels > 0.5)))
    seen["held-out accuracy above 0.9"] = accuracy > 0.9
    # points where a linear model's logit is 0.25, labelled 0: a threshold of 0.5 would call them right
    logits = outputs[:, 0]
    below, above = held_out[logits < 0][:10], held_out[logits > 1][:10]
    count = min(len(below), len(above))
    low, high = logits[logits < 0][:count], logits[logits > 1][:count]
    near = below[:count] + ((0.25 - low) / (high - low))[:, None] * (above[:count] - below[:count])
    held_out = np.concatenate([held_out, near.astype("float32")])
    held_out_labels = np.concatenate([held_out_labels, np.zeros((count, 1), dtype="float32")])
    outputs = np.asarray(model(held_out))
    scores = model.evaluate(held_out, held_out_labels, verbose=0, return_dict=True)
    logistic = float(np.mean(np.maximum(outputs, 0) - outputs * held_out_labels + np.log1p(np.exp(-np.abs(outputs)))))
    seen["evaluate() loss is the cross-entropy of the logits"] = bool(np.isclose(scores.get("loss", np.nan), logistic, rtol=1e-3))
    logit_accuracy = float(np.mean((outputs > 0) == (held_out_labels > 0.5)))
    seen["evaluate() accuracy thresholds the logits at 0"] = bool(
        np.isclose(scores.get("binary_accuracy", np.nan), logit_accuracy, atol=1e-6))
    return seen
