"""Fractions x seeds: the curve plan, one run, the run folder, and the executors that run them."""
