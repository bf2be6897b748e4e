"""The serving shim model servers import to emit prediction events.

Not built yet: until it is, model servers post events to
``/v1/events/predictions`` (JSON, arrays or NDJSON) or produce them to the
``driftd.predictions`` Kafka topic, as docs/events.md describes.
"""

__all__: list[str] = []
