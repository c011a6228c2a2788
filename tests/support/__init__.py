"""Helpers only the tests and the benchmarks use (JupyterLab + Chromium, a display front-end,
long answers): kept out of the package, so they do not ship in the wheel."""
