"""Tests of app.components.audit."""
