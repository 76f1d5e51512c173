"""Public-key infrastructure of the polex network: the hub CA, node certificates and mutual TLS."""
