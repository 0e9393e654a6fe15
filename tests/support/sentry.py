"""A Sentry transport that keeps the events it is given, for reading what would have been sent."""

from typing import Any

from sentry_sdk.transport import Transport


class CapturingTransport(Transport):
    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.envelopes: list[Any] = []

    def capture_envelope(self, envelope: Any) -> None:
        self.envelopes.append(envelope)
