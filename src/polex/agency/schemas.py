from __future__ import annotations

import datetime as dt

from polex.domain.agency import Agency
from polex.domain.base import SchemaModel


class AgencyCreate(Agency):
    pass


class AgencyRead(Agency):
    id: str
    created_at: dt.datetime


class AgencyList(SchemaModel):
    items: list[AgencyRead]
