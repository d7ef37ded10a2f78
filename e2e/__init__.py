"""End-to-end tests: the real server in real Chromium, at the device each surface is for."""
