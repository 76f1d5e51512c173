"""Screening (FIND): document and vehicle checks against an in-memory index, person matching, hits."""
