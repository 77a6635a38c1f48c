"""Benchmarks: `python3 scripts/bootstrap.py bench` (issue 6)."""
