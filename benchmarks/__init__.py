"""Benchmarks of tooltool-proxy, kept out of the test suite; `python -m benchmarks --help`."""
