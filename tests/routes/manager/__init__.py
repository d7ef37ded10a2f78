"""Route tests of the manager surface."""
