"""The domain: plain async functions, no HTTP, no templates."""
