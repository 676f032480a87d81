"""Alembic migrations of the ticket database (run by ``tickets.db.migrate``)."""
