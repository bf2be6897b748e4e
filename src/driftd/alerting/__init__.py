"""Alerting: rules, the alert state machine, Apprise notifications, retraining webhooks.

Not built yet: drift metrics are stored and exported (``driftd_feature_psi``
on ``/metrics``) so Prometheus alerting can act on them meanwhile. The
contract this package will implement is in DESIGN.md, "Alerts".
"""

__all__: list[str] = []
