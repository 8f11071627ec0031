"""pytest plugin of the three suites (``-p mlsandbox.testing.plugin`` in pyproject.toml):
one marker per backend, read from :data:`models.BACKENDS`, so ``pytest -m torch`` selects
a framework and a newly registered framework gets its marker without another line."""

from __future__ import annotations


def pytest_configure(config):
    import models

    for backend in models.BACKENDS:
        config.addinivalue_line("markers", f"{backend}: uses the {backend} backend "
                                           f"(one marker per entry of models.BACKENDS)")
