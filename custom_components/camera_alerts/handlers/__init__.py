"""Sinks that carry detection events out of Home Assistant, and their dispatcher."""
