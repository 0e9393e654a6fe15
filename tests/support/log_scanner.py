"""The log handler behind conftest's session-wide secret scanner."""

import logging
from collections.abc import Iterable

from dockerflow.logging import MozlogFormatter


class SecretScanningHandler(logging.Handler):
    """Formats every record as production does (mozlog JSON lines) and keeps those holding a secret."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(logging.INFO)  # production logs at INFO (proxy.observability)
        self.setFormatter(MozlogFormatter(logger_name="tooltool-proxy"))
        self.secrets = tuple(secrets)
        self.scanned = 0
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.scanned += 1
        self.leaks += [f"{secret!r} in a {record.name!r} record: {line}" for secret in self.secrets if secret in line]
