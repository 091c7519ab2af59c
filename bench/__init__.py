"""Benchmarks: each script prints a table of measured figures."""
