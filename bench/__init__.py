"""Benchmarks: `./dev bench` (or `python -m bench`). Figures are printed, never asserted."""
