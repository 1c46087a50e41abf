"""Alembic migrations of the metadata store; `pinnace.stores.sql` runs them on open."""
