"""The event log: every accepted event, durable, replayable and queryable."""
