"""Agencies registered on a node."""
