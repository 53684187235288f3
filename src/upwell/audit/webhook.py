"""Alert events POSTed as JSON to a webhook, from a background thread.

``emit`` only buffers (see :mod:`upwell.audit.buffer`); the thread sends each batch as
``{"alerts": [event, ...]}`` with a timeout, retrying connection errors, timeouts, 429
and 5xx answers with exponential backoff. Other 4xx answers are not retried. A batch that
still fails counts in ``stats().failed``; a full buffer counts in ``stats().dropped``.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from upwell.audit.alerts import AlertEvent
from upwell.audit.buffer import BufferCounts, RecordBuffer
from upwell.audit.errors import AuditError
from upwell.audit.tables import dumps

__all__ = ["WebhookError", "WebhookSink"]

_TOO_MANY_REQUESTS = 429
_SERVER_ERROR = 500


class WebhookError(AuditError):
    """The webhook answered with an error that retrying will not fix."""


class WebhookSink:
    """Deliver alert events to an HTTP endpoint.

    Args:
        url: ``http://`` or ``https://`` address.
        timeout_s: Timeout of each request.
        retries: Retries of a failed batch.
        backoff_s: Wait before the first retry; doubles each time.
        capacity: Most events buffered.
        headers: Extra request headers (e.g. an authorisation token).

    Raises:
        AuditError: If the URL is not http(s).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 2.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        capacity: int = 1_000,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if urlsplit(url).scheme not in {"http", "https"}:
            msg = f"{url!r} is not an http(s) URL"
            raise AuditError(msg, where="WebhookSink.url", fix="pass an http:// or https:// URL.")
        self.url = url
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._buffer: RecordBuffer[AlertEvent] = RecordBuffer(
            self._send, capacity=capacity, flush_interval_s=0.05, name="upwell-alert-webhook"
        )

    def emit(self, events: Sequence[AlertEvent]) -> None:
        """Buffer events for delivery; never blocks.

        Args:
            events: The events.
        """
        for event in events:
            self._buffer.offer(event)

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(  # noqa: S310 (scheme checked in __init__)
            self.url, data=body, headers=self._headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
            response.read()

    def _send(self, batch: list[AlertEvent]) -> None:
        body = dumps({"alerts": [e.as_dict() for e in batch]})
        for attempt in range(self._retries + 1):
            try:
                self._post(body)
                return
            except urllib.error.HTTPError as error:
                error.close()
                if error.code < _SERVER_ERROR and error.code != _TOO_MANY_REQUESTS:
                    msg = f"the webhook answered {error.code}"
                    raise WebhookError(
                        msg, where=self.url, fix="check the URL and token."
                    ) from None
                if attempt == self._retries:
                    raise
            except OSError:  # connection refused, timeout, DNS
                if attempt == self._retries:
                    raise
            time.sleep(self._backoff_s * 2**attempt)

    def stats(self) -> BufferCounts:
        """Delivery counters: ``written`` events were delivered."""
        return self._buffer.counts()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every event emitted so far is delivered or failed.

        Args:
            timeout_s: The longest wait.

        Returns:
            False on timeout.
        """
        return self._buffer.flush(timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        """Deliver what is buffered, then stop.

        Args:
            timeout_s: The longest wait.
        """
        self._buffer.close(timeout_s)
