"""Vehicle records."""
