"""Connectors publish events into Kafka: the publisher, the simulator, and source adapters."""
