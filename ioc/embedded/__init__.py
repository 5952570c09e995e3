"""The embedded default: a Kafka-protocol broker and PostgreSQL from PyPI wheels, supervised."""
