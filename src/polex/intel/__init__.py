"""Threat intelligence records: one STIX 2.1 object each (the model is polex.domain.intel)."""
