"""Tests of app.components.imports."""
