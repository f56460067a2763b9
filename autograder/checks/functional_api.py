"""Trusted check of functional_api: the learner's build_model, compile_model and make_extractor on fresh inputs.

Runs in the learner's kernel right after each task's test cell (see autograder/trusted.py); the
grader compares what each function returns with what it returns for the reference solution.
The probes build their own models (never the notebook's stand-in, which the learner's kernel could
replace), give their layers weights drawn from `rng` by layer name, and report only behaviour: input
and output names and shapes, predictions, and what evaluate() reports.
"""

import numpy as np


def _inputs(rng, num_samples, readings_size=8, num_sites=3):
    return {"readings": rng.normal(size=(num_samples, readings_size)).astype("float32"),
            "site": np.eye(num_sites, dtype="float32")[rng.integers(0, num_sites, size=num_samples)]}


def _set_weights(model, rng, names):
    """New weights from rng for the Dense layers with these names, in this order (whatever model.layers' order)."""
    for name in names:
        layer = model.get_layer(name)
        layer.set_weights([rng.normal(scale=0.6, size=tuple(weight.shape)).astype("float32") for weight in layer.weights])


def _plain(outputs):
    return [np.asarray(output, dtype="float64").tolist() for output in outputs]


def _names(tensors):
    return [str(tensor.name) for tensor in tensors or []]


def _shapes(tensors):
    return [list(tensor.shape) for tensor in tensors or []]


def check_two_heads(rng, ns):
    import keras

    seen = {}
    for index, hidden_units in enumerate(rng.choice(np.arange(2, 40), size=2, replace=False)):
        model = ns["build_model"](hidden_units=int(hidden_units))
        seen[f"is a keras.Model ({index})"] = isinstance(model, keras.Model)
        seen[f"inputs ({index})"] = [_names(model.inputs), _shapes(model.inputs)]
        seen[f"outputs ({index})"] = [list(model.output_names), _shapes(model.outputs)]
        seen[f"units of 'shared' ({index})"] = int(model.get_layer("shared").units)
        _set_weights(model, rng, ["shared", "alarm", "level"])
        inputs = _inputs(rng, 6)
        seen[f"predictions, inputs as a list ({index})"] = _plain(model([inputs["readings"], inputs["site"]]))
        seen[f"predictions, inputs as a dict ({index})"] = _plain(model(inputs))
    return seen


def _stand_in(rng, encoder_layers=1, alarm_first=True, level_hidden=False):
    """A model with the contract's names: readings -> tanh encoders, joined with site -> 'shared' -> two heads."""
    import keras

    units = int(rng.choice([2, 3, 4, 5, 6, 8, 9, 11]))
    readings = keras.Input(shape=(8,), name="readings")
    site = keras.Input(shape=(3,), name="site")
    encoded = readings
    for index in range(encoder_layers):
        encoded = keras.layers.Dense(int(rng.integers(2, 7)), activation="tanh", name=f"encoder_{index}")(encoded)
    joined = keras.layers.Concatenate(name="joined")([encoded, site])
    shared = keras.layers.Dense(units, activation="relu", name="shared")(joined)
    alarm = keras.layers.Dense(1, activation="sigmoid", name="alarm")(shared)
    level_input = keras.layers.Dense(3, activation="relu", name="level_hidden")(shared) if level_hidden else shared
    level = keras.layers.Dense(1, name="level")(level_input)
    model = keras.Model(inputs=[readings, site], outputs=[alarm, level] if alarm_first else [level, alarm])
    dense = [f"encoder_{index}" for index in range(encoder_layers)] + ["shared", "alarm", "level"]
    return model, dense + ["level_hidden"] * level_hidden


def check_dict_losses(rng, ns):
    import keras

    seen = {}
    for alarm_first in (True, False):
        model, dense = _stand_in(rng, alarm_first=alarm_first, level_hidden=bool(rng.integers(0, 2)))
        where = "alarm first" if alarm_first else "level first"
        returned = ns["compile_model"](model)
        seen[f"returns the model ({where})"] = returned is model
        seen[f"optimizer is Adam ({where})"] = isinstance(model.optimizer, keras.optimizers.Adam)
        _set_weights(model, rng, dense)
        num_samples = int(rng.integers(20, 90))
        targets = {"alarm": rng.integers(0, 2, size=(num_samples, 1)).astype("float32"),
                   "level": rng.normal(size=(num_samples, 1)).astype("float32")}
        scores = model.evaluate(_inputs(rng, num_samples), targets, batch_size=num_samples, verbose=0, return_dict=True)
        seen[f"evaluate() ({where})"] = {str(name): float(value) for name, value in scores.items()}
    return seen


def check_feature_extractor(rng, ns):
    import keras

    seen = {}
    for index, variant in enumerate(({"encoder_layers": 1}, {"encoder_layers": 2, "alarm_first": False},
                                     {"encoder_layers": 0, "level_hidden": True})):
        model, dense = _stand_in(rng, **variant)
        extractor = ns["make_extractor"](model)
        seen[f"is a keras.Model ({index})"] = isinstance(extractor, keras.Model)
        seen[f"inputs ({index})"] = [_names(extractor.inputs), _shapes(extractor.inputs)]
        seen[f"output shapes ({index})"] = _shapes(extractor.outputs)
        _set_weights(model, rng, dense)  # after make_extractor: shared layers follow, copies do not
        features = extractor(_inputs(rng, 7))
        seen[f"features ({index})"] = _plain(features if isinstance(features, (list, tuple)) else [features])
    return seen
