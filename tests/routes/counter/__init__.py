"""Route tests of the counter surface."""
