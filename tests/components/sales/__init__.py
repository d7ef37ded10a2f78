"""Tests of app.components.sales."""
