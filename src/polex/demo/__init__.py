"""polex demo: synthetic data and the multi-node runner."""
