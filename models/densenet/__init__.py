"""The Keras-style MNIST dense net: 784 -> 128 (batch norm) -> ReLU -> dropout -> 10."""
