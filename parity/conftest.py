"""Fixtures of the parity suite: real training data for the trajectory tests."""

from __future__ import annotations

import numpy as np
import pytest

from tests.shared import shared_root


@pytest.fixture(scope="session")
def mnist_subset():
    """The first 2,000 MNIST training images as float64 features in [0, 1] and labels;
    the embedded scikit-learn digits when ``shared/data/mnist`` is absent."""
    from mlsandbox.data import as_features, load_digits, load_mnist

    data = shared_root() / "data"
    if (data / "mnist").is_dir():
        ds = load_mnist(data_dir=data, progress=False)
    else:
        ds = load_digits()
    x = as_features(ds.x_train[:2000], "float64", ds.scale)
    return {"x": x, "y": ds.y_train[:2000].astype(np.int64)}, ds.name
