"""Ingestion: Kafka -> deliveries -> dedup -> events and entity_state."""
