"""TinyVGG (the PyTorch course's) trained in every framework with the training engine.

Default: pizza_steak_sushi, 64x64 RGB, Adam 1e-3, batch 32, 5 epochs, as the course's
section 04 (which reports 20-55% test accuracy; chance is 33%).  ``--data fashion`` runs
the course's section-03 setup on Fashion-MNIST (28x28x1, padding 1, 10 classes).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mlsandbox.studies import _convnets, common

HELP = "TinyVGG on pizza_steak_sushi (or Fashion-MNIST) in all four frameworks"


@dataclasses.dataclass
class Config:
    data: str = dataclasses.field(default="pizza_steak_sushi", metadata={
        "help": "pizza_steak_sushi (64x64x3) or fashion (Fashion-MNIST, 28x28x1)"})
    data_dir: str = common.data_dir_field()
    backends: str = common.backends_field()
    dtype: str = common.dtype_field()
    epochs: int = dataclasses.field(default=5, metadata={"help": "epochs"})
    batch_size: int = dataclasses.field(default=32, metadata={"help": "batch size"})
    lr: float = _convnets.lr_field()
    hidden: int = dataclasses.field(default=10, metadata={"help": "channels of every conv"})
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
    net_config = {"image_size": x.shape[1], "channels": x.shape[3], "hidden": config.hidden,
                  "n_out": int(max(y.max(), yt.max())) + 1,
                  "padding": "valid" if config.data == "pizza_steak_sushi" else "same"}
    backends = common.parse_backends(config.backends, "tinyvgg")
    title = f"TinyVGG (hidden {config.hidden}, padding {net_config['padding']}) on {name}"
    intro = ("TinyVGG of the PyTorch course: two blocks of [conv 3x3, ReLU, conv 3x3, ReLU, "
             "max-pool 2], flatten, dense.")
    return _convnets.write_report(report, title, intro, "tinyvgg", net_config, config, name,
                                  backends, (x, y), (xt, yt))
