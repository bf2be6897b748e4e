"""Apprise delivery of one queued notification to one route.

Apprise's ``notify()`` answers ``True``/``False`` and never retries; this wraps
it so a failure raises :class:`~driftd.errors.DeliveryError` and the outbox
retries it. A route's URLs are tagged with the route's own tag, and its
``tags`` select entries of the Apprise config file; HTTP-like targets pass the
SSRF guard right before sending.
"""

from __future__ import annotations

import logging
import threading

import apprise

from driftd.alerting.netguard import check_target
from driftd.config.alerting import AlertingSettings, NotifyRoute
from driftd.errors import DeliveryError

__all__ = ["AppriseNotifier"]

logger = logging.getLogger(__name__)

_TYPES = {
    "failure": apprise.NotifyType.FAILURE,
    "warning": apprise.NotifyType.WARNING,
    "info": apprise.NotifyType.INFO,
    "success": apprise.NotifyType.SUCCESS,
}
_HTTP_SCHEMES = ("json", "jsons", "xml", "xmls", "form", "forms")


class AppriseNotifier:
    """Sends ``(title, body, notify type)`` to a route's Apprise targets."""

    def __init__(self, settings: AlertingSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._cache: dict[str, apprise.Apprise] = {}

    def _apprise(self, route: NotifyRoute) -> apprise.Apprise:
        with self._lock:
            found = self._cache.get(route.name)
            if found is not None:
                return found
            obj = apprise.Apprise()
            for url in route.urls:
                if not obj.add(url.get_secret_value(), tag=f"driftd-route-{route.name}"):
                    raise DeliveryError(
                        f"route {route.name}: an Apprise URL is invalid", retry=False
                    )
            if route.tags and self.settings.apprise_config:
                config = apprise.AppriseConfig()
                if not config.add(self.settings.apprise_config):
                    raise DeliveryError(
                        f"alerting.apprise_config {self.settings.apprise_config!r} cannot be read",
                        retry=False,
                    )
                obj.add(config)
            self._cache[route.name] = obj
            return obj

    def send(self, route_name: str, title: str, body: str, notify_type: str) -> None:
        route = self.settings.route(route_name)
        if route is None:
            raise DeliveryError(f"route {route_name!r} is no longer configured", retry=False)
        for url in route.urls:
            raw = url.get_secret_value()
            if raw.split("://", 1)[0].lower() in _HTTP_SCHEMES:
                check_target(
                    raw,
                    allow_private=self.settings.allow_private_targets,
                    allowed_hosts=self.settings.guard_hosts,
                )
        obj = self._apprise(route)
        ok = obj.notify(
            body=body,
            title=title,
            notify_type=_TYPES.get(notify_type, apprise.NotifyType.INFO),
            tag=[f"driftd-route-{route.name}", *route.tags],
        )
        if not ok:
            raise DeliveryError(f"route {route_name}: Apprise reported a failed notification")
