"""Case records."""
