"""Tests of app.components.consents."""
