"""Errors raised by the sinks' validation helpers (used by the options flow)."""

from __future__ import annotations


class SinkError(Exception):
    """Base class for sink errors."""


class CannotConnect(SinkError):
    """The remote service could not be reached or refused the request."""


class InvalidAuth(SinkError):
    """The remote service rejected the credentials."""
