"""Cross-border correlation alerts: person records of different countries on one node that
the matcher finds alike, and what each owner may learn of the other's record. See
``polex.correlation.service`` and docs/intelligence.md."""
