"""The tamper-evident audit trail: events, the Merkle log, checkpoints and proofs."""
