"""Tests of app.db: the engine helpers and the pooled SQLite engine."""
