"""The IMDB embedding classifier of Keras's walkthrough: Embedding -> masked mean -> 16 ReLU -> 1."""
