"""Patient records: SQLAlchemy 2 models, Alembic migrations, and the record operations.

SQLite (WAL) by default, PostgreSQL through ``BENZOSAFE_DATABASE_URL``; the same models
and migrations serve both. Every read and write of a patient's data goes through
:mod:`benzosafe.store.records`, which writes an audit event in the same transaction.
"""
