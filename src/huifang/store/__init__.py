"""Storage adapters: SQLAlchemy 2 models, engine and sessions, repositories, migrations."""

from huifang.store import security_models as security_models
