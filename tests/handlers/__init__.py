"""Tests for the sinks and the dispatcher."""
