"""Route tests of the members surface."""
