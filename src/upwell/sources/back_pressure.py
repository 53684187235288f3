"""Back-pressure: never hold more fetched, unacknowledged messages than a bound.

A worker asks the broker for ``room()`` messages at most, so a slow online store slows
the fetching instead of filling memory: the broker keeps what was not fetched, and
other workers of the group can take it.

>>> window = InFlight(limit=100)
>>> window.room()
100
>>> window.take(60)
>>> window.room()
40
>>> window.release(60)
>>> window.room(), window.peak
(100, 60)
"""

from __future__ import annotations

from upwell.sources.errors import BrokerError


class InFlight:
    """Counts messages fetched but not yet acknowledged.

    Args:
        limit: The most messages in flight at once.

    Raises:
        BrokerError: The limit is below 1.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            msg = f"in-flight limit {limit} is below 1"
            raise BrokerError(msg, where="back-pressure", fix="allow at least one message")
        self.limit = limit
        self.count = 0
        self.peak = 0

    def room(self) -> int:
        """How many more messages may be fetched now.

        Returns:
            The free capacity.
        """
        return self.limit - self.count

    def take(self, n: int) -> None:
        """Count ``n`` fetched messages.

        Args:
            n: How many were fetched.

        Raises:
            BrokerError: The bound would be exceeded (a source returned more than asked).
        """
        if self.count + n > self.limit:
            msg = f"{self.count + n} messages in flight, above the limit of {self.limit}"
            raise BrokerError(msg, where="back-pressure", fix="fetch at most room() messages")
        self.count += n
        self.peak = max(self.peak, self.count)

    def release(self, n: int) -> None:
        """Count ``n`` messages as acknowledged.

        Args:
            n: How many were acknowledged.
        """
        self.count = max(0, self.count - n)
