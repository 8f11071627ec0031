"""What the test suites (``tests/``, ``parity/``, ``bench/``) share, so that they never
import one another.

One job: helpers for the suites; nothing in the product imports this package.  Importing
it (or any of its modules) imports no framework: JAX, torch and TensorFlow load on the
first call that needs them.  Pytest fixtures stay in each suite's ``conftest.py``, which
calls in here.

* :mod:`mlsandbox.testing.shared`: where the read-only ``shared/`` data folder is;
* :mod:`mlsandbox.testing.gradcheck`: central finite differences (``numeric_grad``,
  ``FD_TOL``);
* :mod:`mlsandbox.testing.cases`: the parity table and its parametrization helpers, and
  the one definition of ``DTYPES`` and ``PEERS``;
* :mod:`mlsandbox.testing.frameworks`: value and VJP of a function in each framework's
  own autodiff (``vjp``, ``ops``, ``FRAMEWORKS``);
* :mod:`mlsandbox.testing.trajectories`: the training-trajectory setup (the nets, the
  digits batches, one thread per library) shared by the optimizer and regularization
  parity tests.
"""
