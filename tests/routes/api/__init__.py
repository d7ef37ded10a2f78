"""Route tests of the api surface."""
