"""Shared test helpers. The names most tests need are importable from here (`from tests.support import ADMIN,
Proxy`); the rest from their modules (hawk, tooltool_client, fake_taskcluster, faults, oracles, raw_http, ...)."""

from tests.support.credentials import (
    ADMIN,
    ALL_CREDS,
    BEARER_SCOPES,
    BEARER_TOKEN,
    INTERNAL_READER,
    LOG_SECRETS,
    NOBODY,
    PUBLIC_READER,
    PUBLIC_UPLOADER,
    TEMP_ISSUER,
    UPLOADER,
    Creds,
    P,
    write_clients_file,
)
from tests.support.log_scanner import SecretScanningHandler
from tests.support.moto import BUCKET
from tests.support.net import free_port, wait_for_http
from tests.support.proxies import TEST_RETRY_DEADLINE, Proxy, ProxyFactory, count_store_calls

__all__ = [
    "ADMIN",
    "ALL_CREDS",
    "BEARER_SCOPES",
    "BEARER_TOKEN",
    "BUCKET",
    "INTERNAL_READER",
    "LOG_SECRETS",
    "NOBODY",
    "PUBLIC_READER",
    "PUBLIC_UPLOADER",
    "TEMP_ISSUER",
    "TEST_RETRY_DEADLINE",
    "UPLOADER",
    "Creds",
    "P",
    "Proxy",
    "ProxyFactory",
    "SecretScanningHandler",
    "count_store_calls",
    "free_port",
    "wait_for_http",
    "write_clients_file",
]
