"""Loopback ports and waiting for a server to answer: the benchmarks' own, so there is one of each."""

from benchmarks.processes import free_port, stop_process, wait_for_http

__all__ = ["free_port", "stop_process", "wait_for_http"]
