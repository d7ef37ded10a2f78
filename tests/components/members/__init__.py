"""Tests of app.components.members."""
