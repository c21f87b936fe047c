"""Benchmark protocols that train the project's models end to end and score them like the paper.

- :mod:`omicsdisent.bench.polymnist_quadrant`: PolyMNIST-Quadrant (IDMVAE, MMVAE+ and the ablations),
  the ``omicsdisent bench polymnist-quadrant`` command.
- :mod:`omicsdisent.bench.evaluation`: linear probes and generation coherence for image models.

Submodules import torch; this package itself imports nothing heavy.
"""
