"""Repair issues raised only when a problem lasts, and withdrawn when it ends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later

from .const import DOMAIN


class LastingProblemIssue:
    """Raise a repair issue once a problem has lasted `delay`; drop it when fixed."""

    def __init__(
        self,
        hass: HomeAssistant,
        issue_id: str,
        translation_key: str,
        delay: timedelta,
        placeholders: Callable[[], dict[str, str]],
    ) -> None:
        """Describe the issue; nothing is raised until `async_problem`."""
        self.hass = hass
        self.issue_id = issue_id
        self._translation_key = translation_key
        self._delay = delay
        self._placeholders = placeholders
        self._timer: CALLBACK_TYPE | None = None

    @callback
    def async_problem(self) -> None:
        """Note the problem is (still) there; start the clock if it is not running."""
        if self._timer is None:
            self._timer = async_call_later(self.hass, self._delay, self._raise)

    @callback
    def async_resolved(self) -> None:
        """Note the problem is gone; stop the clock and withdraw the issue."""
        if self._timer is not None:
            self._timer()
            self._timer = None
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

    @callback
    def _raise(self, _now: datetime) -> None:
        self._timer = None
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=self._translation_key,
            translation_placeholders=self._placeholders(),
        )
