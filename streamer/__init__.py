"""streamer: an event-driven early-warning service for consumer-credit default risk."""

__version__ = "0.1.0"
