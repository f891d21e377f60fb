"""Benchmarks of the complaint system: `python -m bench` (see bench/__main__.py and docs/performance.md)."""
