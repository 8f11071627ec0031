"""ML Sandbox: the study command, data loaders, reports and the parity policy.

The networks live in :mod:`models`, the primitive ops in :mod:`kernels`; this package
holds what sits around them (one job: running and reporting studies on real data).
"""

__version__ = "0.1.0"
