"""DenseNet, PyTorch."""

from __future__ import annotations

from models.adapters.torch_adapter import DENSE_T, Dropout, TorchNetwork, nn


class DenseNet(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.dense1 = nn.Linear(spec.n_in, spec.n_hidden, dtype=dtype)
        # torch's momentum is the weight of the new statistic: 1 - Keras's
        self.bn = nn.BatchNorm1d(spec.n_hidden, eps=spec.eps, momentum=1.0 - spec.momentum,
                                 dtype=dtype) if spec.batchnorm else nn.Identity()
        self.dropout = Dropout(spec.dropout_rate)
        self.dense2 = nn.Linear(spec.n_hidden, 10, dtype=dtype)

    def forward(self, x):
        return self.dense2(self.dropout(self.bn(self.dense1(x)).relu()))


class Network(TorchNetwork):
    module = DenseNet
    #: nn.Linear stores (out, in): both kernels are transposed.  Batch norm's names differ.
    LAYOUT = {
        "dense1.kernel": ("dense1.weight", DENSE_T),
        "dense1.bias": ("dense1.bias", None),
        "bn.gamma": ("bn.weight", None),
        "bn.beta": ("bn.bias", None),
        "bn.moving_mean": ("bn.running_mean", None),
        "bn.moving_variance": ("bn.running_var", None),
        "dense2.kernel": ("dense2.weight", DENSE_T),
        "dense2.bias": ("dense2.bias", None),
    }
