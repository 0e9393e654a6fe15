"""Shared test helpers, one module each: credentials, moto, net, proxies, hawk, tooltool_client, faults, ...

Kept empty on purpose: `benchmarks.upload` times a tooltool.py-shaped stand-in that imports
tests.support.tooltool_client, interpreter start included, so importing a helper must not import the proxy."""
