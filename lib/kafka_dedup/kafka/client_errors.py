"""librdkafka's client errors as the project's log lines, each kind once while it lasts.

librdkafka's own log prints a line per failed connection attempt, about 20 a second while a
broker is down. Clients built here take their `log_level` and `error_cb` from
`ClientErrors.settings()`.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError

from kafka_dedup import log

logger = log.get(__name__)


class ClientErrors:
    """Reports each kind of client error once, until the client gets through again.

    client: how the lines name it ("Kafka producer chaos-feed").
    retrying: what happens meanwhile, said with a transient error.
    fatal_raised: the caller raises fatal errors itself (a consumer gets them from poll),
    so they are not logged twice.
    """

    def __init__(self, client: str, retrying: str, fatal_raised: bool = False) -> None:
        self.client = client
        self.retrying = retrying
        self.fatal_raised = fatal_raised
        self.reported: set[int] = set()

    def settings(self) -> dict[str, Any]:
        """The client config that sends librdkafka's errors here instead of to stderr."""
        return {"log_level": 0, "error_cb": self}

    def __call__(self, error: KafkaError) -> None:
        if error.code() in self.reported:
            return
        self.reported.add(error.code())
        if not error.fatal():
            logger.warning("%s: %s (%s)", self.client, error.str(), self.retrying)
        elif not self.fatal_raised:
            logger.error("%s: %s (fatal: it stops)", self.client, error.str())

    def got_through(self, what: str) -> None:
        """A record went through: the errors reported so far are over."""
        if self.reported:
            logger.info("%s: %s again", self.client, what)
            self.reported.clear()
