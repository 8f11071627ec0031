"""MNIST convnet, PyTorch, run channels-last (see ``models/tinyvgg/tinyvgg_torch.py``:
the NHWC batch permuted to NCHW is a channels-last view; the features are permuted back
to NHWC before flattening so the dense weight is a plain transpose)."""

from __future__ import annotations

from models.adapters.torch_adapter import CONV_T, DENSE_T, Dropout, TorchNetwork, nn, torch


class CNN(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.conv1 = nn.Conv2d(spec.channels, spec.filters1, kernel_size=3, dtype=dtype)
        self.conv2 = nn.Conv2d(spec.filters1, spec.filters2, kernel_size=3, dtype=dtype)
        self.pool = nn.MaxPool2d(2)
        self.dropout = Dropout(spec.rate)
        self.dense = nn.Linear(spec.features(), spec.n_out, dtype=dtype)

    def forward(self, x):                                      # (n, 28, 28, 1) NHWC
        x = self.pool(torch.relu(self.conv1(x.permute(0, 3, 1, 2))))
        x = self.pool(torch.relu(self.conv2(x)))
        x = x.permute(0, 2, 3, 1).flatten(1)                   # flatten H, W, C
        return self.dense(self.dropout(x))


class Network(TorchNetwork):
    module = CNN
    #: nn.Conv2d keeps OIHW kernels (HWIO canonical), nn.Linear (out, in).
    LAYOUT = {
        "conv1.kernel": ("conv1.weight", CONV_T),
        "conv1.bias": ("conv1.bias", None),
        "conv2.kernel": ("conv2.weight", CONV_T),
        "conv2.bias": ("conv2.bias", None),
        "dense.kernel": ("dense.weight", DENSE_T),
        "dense.bias": ("dense.bias", None),
    }

    def build(self, dtype):
        return super().build(dtype).to(memory_format=torch.channels_last)
