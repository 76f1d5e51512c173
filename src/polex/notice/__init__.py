"""Notices and diffusions: request, review, publication, dissemination, public extracts."""
