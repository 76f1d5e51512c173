"""Person records."""
