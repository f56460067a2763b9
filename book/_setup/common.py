import os

os.environ["KERAS_BACKEND"] = "tensorflow"  # Keras 3 runs on several backends; this book uses TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hide TensorFlow's C++ start-up log lines

import numpy as np
import tensorflow as tf
import keras

keras.utils.set_random_seed(42)  # seeds Python's random, NumPy and TensorFlow in one call
gpus = tf.config.list_physical_devices("GPU")
print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, backend {keras.backend.backend()}")
print(f"Running on GPU: {gpus[0].name}" if gpus else "Running on CPU (in Colab: Runtime > Change runtime type > GPU)")
