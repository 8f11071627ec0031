"""TinyVGG, PyTorch: the course's module, run channels-last.

The canonical batch is NHWC; ``x.permute(0, 3, 1, 2)`` is the NCHW tensor torch's layers
expect, and it is a view whose memory is already channels-last, the layout in which
oneDNN's CPU convolutions are fastest.  The module is built with
``memory_format=torch.channels_last`` so the weights match.

Flatten order: ``nn.Flatten`` on NCHW reads C, H, W; canonical (Keras, Flax) is H, W, C.
We permute to NHWC before flattening (free on channels-last memory), so the dense weight
is a plain (in, out) -> (out, in) transpose.  The course's own module flattens NCHW; its
``classifier.1.weight`` holds the same numbers with the columns in C, H, W order
(``parity/test_conv_networks.py`` converts one and checks the logits agree).
"""

from __future__ import annotations

from models.adapters.torch_adapter import CONV_T, DENSE_T, TorchNetwork, nn, torch


class TinyVGG(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        conv = dict(kernel_size=3, stride=1, padding=0 if spec.padding == "valid" else 1,
                    dtype=dtype)
        self.conv_block_1 = nn.Sequential(
            nn.Conv2d(spec.channels, spec.hidden, **conv), nn.ReLU(),
            nn.Conv2d(spec.hidden, spec.hidden, **conv), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2))
        self.conv_block_2 = nn.Sequential(
            nn.Conv2d(spec.hidden, spec.hidden, **conv), nn.ReLU(),
            nn.Conv2d(spec.hidden, spec.hidden, **conv), nn.ReLU(),
            nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(spec.hidden * spec.side() ** 2, spec.n_out, dtype=dtype))

    def forward(self, x):                                      # (n, S, S, C) NHWC
        x = self.conv_block_2(self.conv_block_1(x.permute(0, 3, 1, 2)))
        return self.classifier(x.permute(0, 2, 3, 1))          # flatten H, W, C


class Network(TorchNetwork):
    module = TinyVGG
    #: nn.Conv2d keeps OIHW kernels (HWIO canonical), nn.Linear (out, in).
    LAYOUT = {
        "conv1.kernel": ("conv_block_1.0.weight", CONV_T),
        "conv1.bias": ("conv_block_1.0.bias", None),
        "conv2.kernel": ("conv_block_1.2.weight", CONV_T),
        "conv2.bias": ("conv_block_1.2.bias", None),
        "conv3.kernel": ("conv_block_2.0.weight", CONV_T),
        "conv3.bias": ("conv_block_2.0.bias", None),
        "conv4.kernel": ("conv_block_2.2.weight", CONV_T),
        "conv4.bias": ("conv_block_2.2.bias", None),
        "dense.kernel": ("classifier.1.weight", DENSE_T),
        "dense.bias": ("classifier.1.bias", None),
    }

    def build(self, dtype):
        return super().build(dtype).to(memory_format=torch.channels_last)
