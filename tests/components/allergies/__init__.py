"""Tests of app.components.allergies."""
