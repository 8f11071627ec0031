"""MLP, PyTorch."""

from __future__ import annotations

from models.adapters.torch_adapter import DENSE_T, TorchNetwork, nn


class MLP(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.dense1 = nn.Linear(spec.n_in, spec.n_hidden, dtype=dtype)
        self.dense2 = nn.Linear(spec.n_hidden, spec.n_out, dtype=dtype)

    def forward(self, x):
        return self.dense2(self.dense1(x).relu())


class Network(TorchNetwork):
    module = MLP
    #: nn.Linear stores its weight as (out, in): both kernels are transposed.
    LAYOUT = {
        "dense1.kernel": ("dense1.weight", DENSE_T),
        "dense1.bias": ("dense1.bias", None),
        "dense2.kernel": ("dense2.weight", DENSE_T),
        "dense2.bias": ("dense2.bias", None),
    }
