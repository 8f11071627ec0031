"""The convolutional networks at their real data shapes (the parity table in
``test_networks.py`` runs them small): forward, loss and every gradient of each backend
against the NumPy reference, float64 (1e-10) and float32 (1e-5, gradients 1e-4).

* TinyVGG as the course ran it on pizza_steak_sushi: 64x64x3, 'valid', batch 2;
* TinyVGG as the course ran it on Fashion-MNIST: 28x28x1, padding 1 ('same'), 10 classes;
* the MNIST CNN at 28x28x1, in eval mode (dropout off) and in train mode with an injected
  dropout mask (random masks cannot match across RNGs).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import models
from mlsandbox.compare import assert_close, tolerance
from mlsandbox.testing.cases import DTYPES, PEERS

CONFIGS = {
    "tinyvgg-64x64x3": ("tinyvgg", {}, 2),
    "tinyvgg-fashion-same": ("tinyvgg", {"image_size": 28, "channels": 1, "n_out": 10,
                                         "padding": "same"}, 3),
    "cnn-28x28x1": ("cnn", {}, 3),
}


def cells():
    out = []
    for case in CONFIGS:
        for backend in PEERS:
            for dtype in DTYPES:
                out.append(pytest.param(case, backend, dtype, id=f"{case}-{backend}-{dtype}",
                                        marks=getattr(pytest.mark, backend)))
    return out


@functools.lru_cache(maxsize=None)
def net(case, backend):
    name, config, _ = CONFIGS[case]
    return models.get(name, backend, **config)


@functools.lru_cache(maxsize=None)
def reference(case, dtype):
    spec = net(case, "numpy").spec
    params = spec.init(seed=3, dtype=dtype)
    batch = spec.example(n=CONFIGS[case][2], seed=4, dtype=dtype)
    ref = net(case, "numpy")
    return params, batch, ref.forward(params, batch), ref.loss_and_grads(params, batch)


@pytest.mark.parametrize("case, backend, dtype", cells())
def test_forward_loss_grads_at_the_real_shape(case, backend, dtype):
    params, batch, want_logits, (want_loss, want_grads) = reference(case, dtype)
    peer = net(case, backend)
    logits = peer.forward(params, batch)
    loss, grads = peer.loss_and_grads(params, batch)
    assert logits.dtype.name == dtype
    assert_close(logits, want_logits, tolerance(dtype, "value"), f"{case}/{backend} logits")
    assert_close(loss, want_loss, tolerance(dtype, "value"), f"{case}/{backend} loss")
    assert list(grads) == list(want_grads)
    assert_close(grads, want_grads, tolerance(dtype, "grad"), f"{case}/{backend} gradients")


@pytest.mark.torch
def test_torch_course_module_flattens_chw_and_agrees_after_permuting_dense_rows():
    """The course's TinyVGG flattens NCHW (C, H, W order).  Loading canonical params into
    it needs the dense kernel's rows permuted from H, W, C to C, H, W order; then its
    logits equal the reference's.  Without the permutation they do not."""
    from models.frameworks import load_torch

    torch = load_torch()
    nn = torch.nn
    spec = models.spec("tinyvgg", image_size=28)
    side, h = spec.side(), spec.hidden
    params = spec.init(seed=5, dtype="float64")
    batch = spec.example(n=2, seed=6, dtype="float64")
    want = models.get("tinyvgg", "numpy", image_size=28).forward(params, batch)

    def block(cin):
        return nn.Sequential(nn.Conv2d(cin, h, 3), nn.ReLU(), nn.Conv2d(h, h, 3), nn.ReLU(),
                             nn.MaxPool2d(2))

    course = nn.Sequential(block(3), block(h), nn.Flatten(), nn.Linear(h * side ** 2, 3))
    course = course.double()
    convs = [m for m in course.modules() if isinstance(m, nn.Conv2d)]
    x = torch.tensor(batch["x"].transpose(0, 3, 1, 2))

    def load(dense_rows_chw: bool):
        with torch.no_grad():
            for i, conv in enumerate(convs, start=1):
                conv.weight.copy_(torch.tensor(params[f"conv{i}.kernel"].transpose(3, 2, 0, 1)))
                conv.bias.copy_(torch.tensor(params[f"conv{i}.bias"]))
            k = params["dense.kernel"]                          # rows in H, W, C order
            if dense_rows_chw:
                k = k.reshape(side, side, h, 3).transpose(2, 0, 1, 3).reshape(-1, 3)
            course[3].weight.copy_(torch.tensor(k.T))
            course[3].bias.copy_(torch.tensor(params["dense.bias"]))
        return course(x).detach().numpy()

    assert_close(load(dense_rows_chw=True), want, tolerance("float64", "value"), "course logits")
    with pytest.raises(AssertionError):
        assert_close(load(dense_rows_chw=False), want, tolerance("float64", "value"), "unpermuted")


@pytest.mark.parametrize("backend", [pytest.param(b, marks=getattr(pytest.mark, b))
                                     for b in PEERS])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", (1, 2))
def test_cnn_train_mode_with_an_injected_dropout_mask(backend, dtype, n):
    ref, peer = net("cnn-28x28x1", "numpy"), net("cnn-28x28x1", backend)
    spec = ref.spec
    params = spec.init(seed=7, dtype=dtype)
    batch = {**spec.example(n=n, seed=8, dtype=dtype), "masks": spec.masks(n, seed=9, dtype=dtype)}
    want_logits = ref.forward(params, batch, train=True)
    want_loss, want_grads = ref.loss_and_grads(params, batch, train=True)
    # the mask matters: eval mode (no dropout) gives other logits
    assert not np.allclose(ref.forward(params, batch), want_logits)
    assert_close(peer.forward(params, batch, train=True), want_logits,
                 tolerance(dtype, "value"), f"cnn/{backend} train-mode logits")
    loss, grads = peer.loss_and_grads(params, batch, train=True)
    assert_close(loss, want_loss, tolerance(dtype, "value"), f"cnn/{backend} loss")
    assert_close(grads, want_grads, tolerance(dtype, "grad"), f"cnn/{backend} gradients")
