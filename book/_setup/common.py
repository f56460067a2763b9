import os

os.environ["KERAS_BACKEND"] = "tensorflow"  # this book runs Keras 3 on TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hide TensorFlow's C++ log lines

import warnings

# Print a warning as "Category: message", without the path of the library file that raised it.
warnings.formatwarning = lambda message, category, *args, **kwargs: f"{category.__name__}: {message}\n"

import numpy as np
import tensorflow as tf
import keras

keras.utils.set_random_seed(42)  # seeds Python, NumPy and TensorFlow at once
print(f"TensorFlow {tf.__version__}, Keras {keras.__version__} ({keras.backend.backend()} backend)")
gpus = tf.config.list_physical_devices("GPU")
if gpus:
    print("Running on GPU:", gpus[0].name)
else:
    print("Running on CPU (in Colab: Runtime > Change runtime type > GPU)")
