"""The legal framework as code: agreements, national rules, sanctions, and the engine fed with them."""
