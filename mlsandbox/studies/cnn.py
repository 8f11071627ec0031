"""The Keras example's MNIST convnet trained in every framework with the training engine.

Keras's "Simple MNIST convnet" trains 15 epochs of batch 128 with Adam and reaches about
99.2% test accuracy; the default here is Adam 1e-3, batch 128, 12 epochs on all 60,000
training images.  Dropout draws its masks from each framework's own RNG, so the loss
curves agree in level, not step by step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mlsandbox.studies import _convnets, common

HELP = "The Keras MNIST convnet (conv-pool-conv-pool-dropout-dense) in all four frameworks"


@dataclasses.dataclass
class Config:
    data: str = dataclasses.field(default="mnist", metadata={"help": "mnist or fashion"})
    data_dir: str = common.data_dir_field()
    backends: str = common.backends_field()
    dtype: str = common.dtype_field()
    epochs: int = dataclasses.field(default=12, metadata={"help": "epochs"})
    batch_size: int = dataclasses.field(default=128, metadata={"help": "batch size"})
    lr: float = _convnets.lr_field()
    train_limit: int = _convnets.train_limit_field()
    seed: int = _convnets.seed_field()
    checkpoint_dir: str = _convnets.checkpoint_dir_field()
    progress: bool = common.progress_field()
    jax_impl: str = common.jax_impl_field()


def run(config: Config, out_dir) -> Path:
    return common.run_study(write, config, out_dir)


def write(config: Config, report) -> common.Summary:
    """Train every backend and write the study into ``report``."""
    x, y, xt, yt, name = _convnets.load_images(config.data, config.data_dir or None,
                                               config.dtype)
    if config.train_limit:
        x, y = x[:config.train_limit], y[:config.train_limit]
    backends = common.parse_backends(config.backends, "cnn")
    title = f"MNIST convnet (Keras example) on {name}"
    intro = ("conv 32 3x3, ReLU, max-pool 2, conv 64 3x3, ReLU, max-pool 2, flatten, "
             "dropout 0.5, dense 10; Keras's init (glorot-uniform, zero bias).")
    return _convnets.write_report(report, title, intro, "cnn", {}, config, name, backends,
                                  (x, y), (xt, yt))
