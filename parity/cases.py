"""The parity table: network x backend x dtype (x batch size), with readable ids.

``test_grads[mlp-torch-float64-n7]`` is network ``mlp``, backend ``torch``, float64, a
batch of 7; ``pytest parity -k "mlp and torch"`` selects by those words.  A network not yet
written in a backend shows as a skip naming what is missing.

To add a network: one entry in :data:`NETWORK_CASES` (its config for the parity runs and
the batch sizes to test: 1, an odd size, and the real data's batch shape).
"""

from __future__ import annotations

import itertools

import pytest

import models

DTYPES = ("float64", "float32")
PEERS = tuple(b for b in models.BACKENDS if b != "numpy")

#: network -> config used by the parity suite and batch sizes to check
NETWORK_CASES = {
    "mlp": {"config": {"n_in": 784}, "sizes": (1, 7, 256)},
    "tinyvgg": {"config": {"image_size": 20}, "sizes": (1, 3)},  # 64x64: test_conv_networks
    "cnn": {"config": {"image_size": 16}, "sizes": (1, 3)},  # 28x28: test_conv_networks
    "logreg": {"config": {"n_in": 30, "n_classes": 2, "C": 0.5}, "sizes": (1, 7, 569)},
    "densenet": {"config": {"batchnorm": True, "l2": 1e-3}, "sizes": (1, 7, 32)},
    "textclf": {"config": {"vocab_size": 50, "seq_len": 12, "dropout_rate": 0.2},
                "sizes": (1, 7, 32)},
    # tiny BERTs: 2 layers, 3 heads of 4, odd vocab; weights N(0, 0.5) so the logits are
    # far from uniform; dropout on for the train-mode runs (parity/test_one_path.py)
    "bert_mlm": {"config": {"vocab_size": 37, "hidden_size": 12, "num_hidden_layers": 2,
                            "num_attention_heads": 3, "intermediate_size": 20,
                            "max_position_embeddings": 10, "type_vocab_size": 2,
                            "initializer_range": 0.5, "hidden_dropout_prob": 0.1,
                            "attention_probs_dropout_prob": 0.1},
                 "sizes": (1, 5, 16)},
    "bert_cls": {"config": {"vocab_size": 37, "hidden_size": 12, "num_hidden_layers": 2,
                            "num_attention_heads": 3, "intermediate_size": 20,
                            "max_position_embeddings": 10, "type_vocab_size": 2,
                            "initializer_range": 0.5, "hidden_dropout_prob": 0.1,
                            "attention_probs_dropout_prob": 0.1, "num_labels": 3},
                 "sizes": (1, 5, 16)},
}


def _marks(network, backend):
    marks = [getattr(pytest.mark, backend)]
    if backend not in models.available(network):
        marks.append(pytest.mark.skip(reason=f"{network} has no {backend} implementation yet"))
    return marks


def network_backend_dtype(backends=PEERS, networks=None):
    """``pytest.param(network, backend, dtype)`` for every cell of the table."""
    out = []
    for net, backend, dtype in itertools.product(networks or NETWORK_CASES, backends, DTYPES):
        out.append(pytest.param(net, backend, dtype, id=f"{net}-{backend}-{dtype}",
                                marks=_marks(net, backend)))
    return out


def network_backend_dtype_size(backends=PEERS):
    """As :func:`network_backend_dtype`, times each network's batch sizes."""
    out = []
    for net, case in NETWORK_CASES.items():
        for backend, dtype, n in itertools.product(backends, DTYPES, case["sizes"]):
            out.append(pytest.param(net, backend, dtype, n, id=f"{net}-{backend}-{dtype}-n{n}",
                                    marks=_marks(net, backend)))
    return out
