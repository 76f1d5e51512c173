"""The national replica (MIND): the hub feeds, national nodes keep an offline copy."""
