"""Fault injection: SIGKILLed ingest runs and broker restarts under a continuous stream."""
