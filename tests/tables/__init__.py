"""Tests of app.tables: migrations."""
