"""The 784-10-10 MLP of the classic "MNIST from scratch in NumPy" notebook."""
