"""The exchange network: enrolment of nodes, the signed membership list, (later) envelopes and queues."""
