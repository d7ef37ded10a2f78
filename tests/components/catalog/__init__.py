"""Tests of app.components.catalog."""
