"""PostgreSQL (SQLite in the embedded mode) through SQLAlchemy 2 async."""
