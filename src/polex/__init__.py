"""polex: police information exchange between a hub and national nodes."""

__version__ = "0.1.0"
SCHEMA_VERSION = "polex.schema/v1"
