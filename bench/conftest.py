"""Fixtures of the benchmark suites."""

from __future__ import annotations

import numpy as np
import pytest

from mlsandbox.testing.shared import shared_root


@pytest.fixture(scope="session")
def mnist_42k():
    """``(batch, source)``: 42,000 x 784 float32 images in [0, 1] and their labels.

    42,000 is the training-set size of the classic "MNIST from scratch" notebook (Kaggle's
    train.csv).  The images are the first 42,000 of the real MNIST training set when it
    is found (``shared/data/mnist`` or ``$MLSANDBOX_DATA``); otherwise seeded uniform
    noise of the same shape, and ``source`` says so (timings do not depend on values).
    """
    from mlsandbox.data import DataNotFoundError, as_features, load_mnist

    for data_dir in (None, shared_root() / "data"):
        try:
            ds = load_mnist(data_dir=data_dir, progress=False)
        except DataNotFoundError:
            continue
        x = as_features(ds.x_train[:42000], "float32", ds.scale)
        return {"x": x, "y": ds.y_train[:42000].astype(np.int64)}, "MNIST (first 42,000)"
    rng = np.random.default_rng(0)
    x = rng.random((42000, 784), dtype=np.float32)
    return {"x": x, "y": rng.integers(0, 10, 42000)}, "synthetic uniform (no MNIST found)"
