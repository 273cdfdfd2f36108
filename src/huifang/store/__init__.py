"""Storage adapters: SQLAlchemy 2 models, engine and sessions, repositories, migrations."""
