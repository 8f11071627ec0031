"""Logistic regression, PyTorch: one ``nn.Linear``; the loss and the L2 term are the spec's
objective (torch's cross-entropies in the adapter)."""

from __future__ import annotations

from models.adapters.torch_adapter import DENSE_T, TorchNetwork, nn


class LogReg(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.dense = nn.Linear(spec.n_in, spec.n_out, dtype=dtype)

    def forward(self, x):
        return self.dense(x)


class Network(TorchNetwork):
    module = LogReg
    #: nn.Linear stores its weight as (out, in).
    LAYOUT = {
        "dense.kernel": ("dense.weight", DENSE_T),
        "dense.bias": ("dense.bias", None),
    }
