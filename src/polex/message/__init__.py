"""Messages between nodes: sent by users, sealed, relayed through the hub, received once."""
