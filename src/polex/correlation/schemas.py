"""The wire shapes of correlation alerts."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class CorrelationAnswer(BaseModel):
    """Why the owner confirms (the same person) or dismisses (not the same person)."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason = Field(description="Why: what was compared, with whom the owner checked")


class CorrelationPage(BaseModel):
    """Correlations newest first, each with the other record as the policy shows it to you;
    those you may not see are left out, and nothing counts them."""

    items: list[dict[str, Any]]
    next_cursor: str | None
