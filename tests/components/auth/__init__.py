"""Tests of app.components.auth."""
