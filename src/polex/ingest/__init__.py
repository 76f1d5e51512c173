"""Imports: outside formats streamed into records, rejections kept in quarantine."""
