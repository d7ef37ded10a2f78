"""Tests of app.components.health."""
