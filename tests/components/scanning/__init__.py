"""Tests of app.components.scanning."""
