"""Every model module, imported so that Base.metadata describes the whole schema."""

from __future__ import annotations

from sqlalchemy import MetaData

import couples.models
import notifications.models
import privacy.models
from couples.db import Base

MODEL_MODULES = (couples.models, notifications.models, privacy.models)


def metadata() -> MetaData:
    return Base.metadata
