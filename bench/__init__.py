"""Benchmarks: the harness (``python -m bench``), its floor, and the catalogue benchmark."""
