"""The parity table: network x backend x dtype (x batch size), with readable ids.

``test_grads[mlp-torch-float64-n7]`` is network ``mlp``, backend ``torch``, float64, a
batch of 7; ``pytest parity -k "mlp and torch"`` selects by those words.  A network not yet
written in a backend shows as a skip naming what is missing.

A registered network brings its cases itself: its spec's ``parity`` class attribute (a
small config for the parity runs and the batch sizes to test: 1, an odd size, and the
real data's batch shape).
"""

from __future__ import annotations

import itertools

import pytest

import models

#: the dtypes every parity cell runs in (the one definition; tests/test_floors.py checks)
DTYPES = ("float64", "float32")
#: the backends compared with the NumPy reference: every registered backend but NumPy
PEERS = tuple(b for b in models.BACKENDS if b != "numpy")

#: network -> {"config": the small config of the parity runs, "sizes": batch sizes to
#: check}, read from each spec's ``parity`` (a network that forgets it fails
#: parity/test_one_path.py::test_parity_table_covers_every_network_and_backend)
_CASES = {name: getattr(type(models.spec(name)), "parity", None) for name in models.NETWORKS}
NETWORK_CASES = {name: case for name, case in _CASES.items() if case}
#: registered networks whose spec has no ``parity`` case (must stay empty)
MISSING_CASES = [name for name, case in _CASES.items() if not case]


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
