"""Request shapes of the AI routes (answers are plain dicts in the envelope)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_CONTEXT_BYTES = 8192  # what a client may add to the server's context


def _small(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, ensure_ascii=False, default=str).encode())
    if size > MAX_CONTEXT_BYTES:
        msg = f"context is {size} bytes; at most {MAX_CONTEXT_BYTES} are accepted"
        raise ValueError(msg)
    return value


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InsightRequest(_Request):
    campaign_id: uuid.UUID
    insight_type: str = Field(min_length=1, max_length=64)
    context_data: dict[str, Any] = Field(default_factory=dict)

    _check = field_validator("context_data")(_small)


class DomainInsightRequest(_Request):
    campaign_id: uuid.UUID
    domain_data: dict[str, Any] = Field(description="must include domain: the row's name")

    _check = field_validator("domain_data")(_small)


class WhitelistInsightRequest(_Request):
    campaign_id: uuid.UUID
    whitelist_data: dict[str, Any] = Field(default_factory=dict)

    _check = field_validator("whitelist_data")(_small)


class BlacklistInsightRequest(_Request):
    campaign_id: uuid.UUID
    blacklist_data: dict[str, Any] = Field(default_factory=dict)

    _check = field_validator("blacklist_data")(_small)


class BatchInsightRequest(_Request):
    campaign_id: uuid.UUID
    insight_types: list[str] = Field(min_length=1, max_length=6)
    context_data: dict[str, Any] = Field(default_factory=dict)

    _check = field_validator("context_data")(_small)

    @field_validator("insight_types")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            msg = "insight_types must not repeat a type"
            raise ValueError(msg)
        return value


class ChatRequest(_Request):
    message: str = Field(min_length=1, max_length=1000)
    campaign_id: uuid.UUID | None = None
    context_data: dict[str, Any] = Field(default_factory=dict)

    _check = field_validator("context_data")(_small)

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            msg = "message must not be blank"
            raise ValueError(msg)
        return value
