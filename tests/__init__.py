"""Yaoshi tests: unit and integration against real SQLite/PostgreSQL and real Redis."""
