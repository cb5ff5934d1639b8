"""Kafka-facing parts: the recommended producer, the duplicate simulator, the local broker."""
