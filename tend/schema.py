"""Every model module, imported so that Base.metadata describes the whole schema."""

from __future__ import annotations

from sqlalchemy import MetaData

import agreements.models
import charter.models
import checkins.models
import checkins.talk_models
import couples.models
import notifications.models
import onboarding.models
import reports.models
from infra.db import Base

MODEL_MODULES = (
    couples.models,
    notifications.models,
    agreements.models,
    checkins.models,
    charter.models,
    checkins.talk_models,
    onboarding.models,
    reports.models,
)


def metadata() -> MetaData:
    return Base.metadata
