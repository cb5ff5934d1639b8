"""kafka-dedup: deduplicate at-least-once Kafka topics into Delta Lake."""

__version__ = "0.1.0"
