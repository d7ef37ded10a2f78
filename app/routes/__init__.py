"""Thin Litestar controllers, one module per surface; they parse, authorize, call components, render."""
