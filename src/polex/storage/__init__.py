"""Storage adapters: SQLAlchemy 2 tables, engines, the unit of work and Alembic migrations."""
