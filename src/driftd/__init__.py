"""driftd: model-monitoring and drift-detection daemon."""

__version__ = "0.1.0"
