"""Trusted check of tf_function: the learner's make_train_step, make_counted_step and scale_to_norm on fresh inputs.

Runs in the learner's kernel right after each task's test cell (see autograder/trusted.py); the
grader compares what each function returns with what it returns for the reference solution.
Every value is one that all correct answers share: numbers computed from inputs drawn from `rng`, and
booleans about behaviour (a tf.function or not, at most two traces), never names or object ids.
"""

import numpy as np


def _model(rng, num_features, num_outputs):
    import keras

    initializer = keras.initializers.GlorotUniform(seed=int(rng.integers(0, 2**31)))
    return keras.Sequential([keras.Input(shape=(num_features,)),
                             keras.layers.Dense(num_outputs, kernel_initializer=initializer)])


def _scalar(value):
    array = np.asarray(value)
    if array.size != 1:
        return f"shape {list(array.shape)}"
    return float(array.reshape(()))


def check_no_retrace(rng, ns):
    import keras

    num_features, num_outputs = int(rng.choice([2, 4, 5, 6, 7])), int(rng.integers(1, 4))
    model = _model(rng, num_features, num_outputs)
    optimizer = keras.optimizers.SGD(learning_rate=float(rng.uniform(0.01, 0.2)))
    optimizer.build(model.trainable_weights)
    train_step = ns["make_train_step"](model, optimizer, keras.losses.MeanSquaredError())
    seen = {"is a tf.function": hasattr(train_step, "experimental_get_tracing_count")}
    sizes = [int(size) for size in rng.choice(np.arange(2, 90), size=4, replace=False)]
    for call, size in enumerate([*sizes, sizes[0], sizes[2]]):
        inputs = rng.normal(size=(size, num_features)).astype("float32")
        targets = rng.normal(size=(size, num_outputs)).astype("float32")
        seen[f"loss of call {call}"] = _scalar(train_step(inputs, targets))
        seen[f"optimizer steps after call {call}"] = int(optimizer.iterations)
    directions = [rng.normal(size=weight.shape) for weight in model.trainable_weights]
    seen["weights along random directions"] = [float((weight.numpy() * direction).sum())
                                               for weight, direction in zip(model.trainable_weights, directions)]
    if seen["is a tf.function"]:
        seen["at most 2 traces"] = train_step.experimental_get_tracing_count() <= 2
    return seen


def _counts(result):
    if not isinstance(result, dict):
        return f"returned {type(result).__name__}"
    return [int(np.asarray(result.get(key)).reshape(())) for key in ("calls", "samples")]


def check_side_effects(rng, ns):
    num_features = int(rng.integers(2, 7))
    model = _model(rng, num_features, int(rng.integers(1, 3)))
    first, seen = ns["make_counted_step"](model), {}
    seen["is a tf.function"] = hasattr(first, "experimental_get_tracing_count")
    sizes = [int(size) for size in rng.choice(np.arange(1, 50), size=4, replace=False)]
    for call, size in enumerate(rng.choice(sizes, size=8)):
        inputs = rng.normal(size=(int(size), num_features)).astype("float32")
        result = first(inputs)
        seen[f"(calls, samples) after call {call}"] = _counts(result)
        if call == 0:
            seen["predictions of call 0"] = np.asarray(result["predictions"], dtype="float64").tolist()
        if call == 3:  # a second step, made while the first one has counted already
            second = ns["make_counted_step"](model)
            for other in range(2):
                seen[f"second step: (calls, samples) after call {other}"] = _counts(second(inputs[: other + 1]))
    return seen


def check_control_flow(rng, ns):
    scale_to_norm, seen = ns["scale_to_norm"], {}
    seen["is a tf.function"] = hasattr(scale_to_norm, "experimental_get_tracing_count")
    for call in range(8):
        x = (rng.normal(size=int(rng.integers(1, 40))) * rng.uniform(0.1, 6)).astype("float32")
        factor = rng.uniform(0.2, 0.9) if call % 2 else rng.uniform(1.1, 3.0)
        max_norm = float(np.linalg.norm(x) * factor)
        seen[f"result {call}"] = np.asarray(scale_to_norm(x, max_norm), dtype="float64").tolist()
    seen["result for zeros"] = np.asarray(scale_to_norm(np.zeros(5, "float32"), 1.0), dtype="float64").tolist()
    if seen["is a tf.function"]:
        seen["traces"] = scale_to_norm.experimental_get_tracing_count()
    return seen
