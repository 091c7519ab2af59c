"""Developer and demo scripts."""
