"""The Keras-style MNIST convnet ("Simple MNIST convnet", keras.io examples)."""
