"""Statistics and scaling of measured runs."""
