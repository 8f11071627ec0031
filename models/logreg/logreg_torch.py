"""Logistic regression, PyTorch: ``nn.Linear`` and torch's cross-entropies plus the L2 term."""

from __future__ import annotations

from models.adapters.torch_adapter import DENSE_T, TorchNetwork, nn, torch

F = torch.nn.functional


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

    def loss(self, logits, y):
        # The adapter runs every loss on its cached module of this dtype (see _load).
        w = self.cached(str(logits.dtype).removeprefix("torch.")).dense.weight
        if self.spec.binary:
            ce = F.binary_cross_entropy_with_logits(logits[:, 0], y.to(logits.dtype))
        else:
            ce = F.cross_entropy(logits, y)
        return ce + 0.5 / (self.spec.C * logits.shape[0]) * (w * w).sum()
