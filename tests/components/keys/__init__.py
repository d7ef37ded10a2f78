"""Tests of app.components.keys."""
