"""Fixtures of the parity suite: real training data for the trajectory tests, and one
thread per library for the modules that ask for it."""

from __future__ import annotations

import numpy as np
import pytest

from mlsandbox.testing import trajectories
from mlsandbox.testing.shared import shared_root


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


@pytest.fixture(scope="module")
def one_thread():
    """One BLAS and one torch thread for a module's tests
    (:func:`mlsandbox.testing.trajectories.one_thread`); a module opts in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    with trajectories.one_thread():
        yield
