"""Storage adapters: SQLAlchemy 2 models, engine and sessions, repositories, migrations."""

from huifang.store import call_models as call_models
from huifang.store import campaign_models as campaign_models
from huifang.store import config_models as config_models
from huifang.store import qa_models as qa_models
from huifang.store import restructuring_models as restructuring_models
from huifang.store import security_models as security_models
from huifang.store import voice_models as voice_models
