"""Tests of app.components.loyalty."""
