"""Alerting: rules, the alert state machine, Apprise notifications, retraining webhooks.

Results (:class:`~driftd.monitoring.results.WindowResult`) reach alerting
through :class:`driftd.alerting.service.AlertingSink`; the running parts
(engine, notification groups, outbox, Alertmanager push) are built by
:func:`driftd.alerting.service.build_alerting`, which the daemon calls. They
are not re-exported here because the settings import the SSRF guard from this
package. The contract is DESIGN.md's "Alerts"; README.md documents the rules.
"""

from driftd.alerting.labels import fingerprint, group_key
from driftd.alerting.messages import render_notification
from driftd.alerting.netguard import check_target, refusal

__all__ = ["check_target", "fingerprint", "group_key", "refusal", "render_notification"]
