"""Authentication (passwords, TOTP, bearer tokens, API keys) and role-based authorisation."""
