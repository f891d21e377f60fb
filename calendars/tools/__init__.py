"""Maintenance tools for the calendar data (not imported at runtime)."""
