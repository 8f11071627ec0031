"""The training-trajectory setup the parity suite shares: the nets, their batches, and
one thread per library.

``parity/test_optimizers.py`` (optimizer x schedule x network x framework) and
``parity/test_regularization.py`` (batch norm running statistics after training) run the
same nets for ``STEPS`` steps from the same init over the same real batches: sklearn's
digits, ``BATCH`` a batch, a fixed shuffle, float64.  The fixture that holds every
library at one thread is ``one_thread`` in ``parity/conftest.py``, over
:func:`one_thread` here.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

import models

STEPS, BATCH = 100, 32

#: network -> config (digits: 64 features); densenet with batch norm, dropout and L2
NETS = {
    "mlp": {"n_in": 64, "n_hidden": 16},
    "densenet": {"n_in": 64, "n_hidden": 32, "batchnorm": True, "dropout_rate": 0.2,
                 "l2": 1e-3},
    # the Keras MNIST convnet on the digits upsampled to 16x16 (2x2 blocks), small filters
    "cnn": {"image_size": 16, "filters1": 4, "filters2": 8},
}


@contextlib.contextmanager
def one_thread():
    """One BLAS and one torch thread inside.  These nets are tiny: one thread each is
    faster, and on a busy 2-core machine two spinning threads per library make a step
    ~100x slower.  (Imports torch on entry, not before.)"""
    import torch
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(old)


@functools.lru_cache(maxsize=None)
def digits_batches(n_in=64):
    """100 batches of 32 real digits (features in [0, 1]), a fixed shuffle, float64."""
    from mlsandbox.data import load_digits

    ds = load_digits()
    x, y = ds.features("train", "float64"), ds.y_train.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    idx = np.resize(order, STEPS * BATCH).reshape(STEPS, BATCH)
    return tuple((x[i], y[i]) for i in idx)


def batches(net_name):
    """The ``STEPS`` batches of ``net_name``: digits (as 16x16x1 images for an NHWC net)
    and, for a net with dropout, its injected masks (seeded by the step)."""
    spec = models.spec(net_name, **NETS[net_name])
    out = []
    for t, (x, y) in enumerate(digits_batches()):
        if len(spec.input_shape()) == 3:  # NHWC images: 8x8 digits as 16x16x1
            x = np.kron(x.reshape(-1, 8, 8), np.ones((2, 2)))[..., None]
        b = {"x": x, "y": y}
        if spec.dropout():
            b["masks"] = spec.masks(BATCH, seed=1000 + t)
        out.append(b)
    return out


@functools.lru_cache(maxsize=None)
def net(name, backend):
    """The net ``name`` (config ``NETS[name]``) in ``backend``, cached.  ``backend``
    "numpy-torch" is the reference computing torch's batch norm running variance
    (unbiased); see parity/test_regularization.py for the size of that gap."""
    if backend == "numpy-torch":
        ref = models.get(name, "numpy", **NETS[name])
        ref.unbiased_running_var = True
        return ref
    return models.get(name, backend, **NETS[name])
