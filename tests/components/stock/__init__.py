"""Tests of app.components.stock."""
