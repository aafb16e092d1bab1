"""The analyst's providers behind one interface: OpenAI's chat completions (or any
OpenAI-compatible server) and the offline analyst (deterministic, no network)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from caliber.ai.offline.chat import offline_chat
from caliber.ai.offline.insights import offline_insight
from caliber.core.errors import UpstreamUnavailable
from caliber.core.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AIRequest:
    """One call: the messages a model reads, and the structured context the offline
    analyst reads (``kind``: an insight type or ``"chat"``)."""

    kind: str
    messages: list[dict[str, str]]
    context: Mapping[str, Any] | None
    question: str | None = None
    history: Sequence[Mapping[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Completion:
    text: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int


class Provider(Protocol):
    name: str
    model: str

    @property
    def configured(self) -> bool: ...

    def complete(self, request: AIRequest) -> Completion: ...


class OfflineAnalyst:
    """Writes from the campaign's stored numbers; the default without an API key."""

    name = "offline"
    model = "caliber-offline-analyst"

    @property
    def configured(self) -> bool:
        return True

    def complete(self, request: AIRequest) -> Completion:
        if request.kind == "chat":
            text = offline_chat(request.question or "", request.context, request.history)
        else:
            text = offline_insight(request.kind, request.context or {})
        return Completion(text, self.name, self.model, 0, 0)


class OpenAIProvider:
    """Chat completions through the official SDK, with an explicit timeout and retry
    count; any provider failure is a 503 with a readable message."""

    name = "openai"

    def __init__(self, settings: Settings) -> None:
        from openai import OpenAI  # noqa: PLC0415 - only when configured

        self.model = settings.OPENAI_MODEL
        self._max_tokens = settings.OPENAI_MAX_TOKENS
        self._temperature = settings.OPENAI_TEMPERATURE
        self._timeout = settings.OPENAI_TIMEOUT
        self._has_key = bool(settings.OPENAI_API_KEY)
        self._client = OpenAI(
            # local OpenAI-compatible servers (Ollama, vLLM, llama.cpp) accept any key
            api_key=settings.OPENAI_API_KEY or "not-needed",
            base_url=settings.OPENAI_BASE_URL,
            timeout=settings.OPENAI_TIMEOUT,
            max_retries=settings.OPENAI_MAX_RETRIES,
        )

    @property
    def configured(self) -> bool:
        return self._has_key or self._client.base_url.host not in ("api.openai.com", "")

    def complete(self, request: AIRequest) -> Completion:
        import openai  # noqa: PLC0415

        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=request.messages,  # type: ignore[arg-type]
                max_tokens=self._max_tokens,
                temperature=self._temperature,
            )
        except openai.APITimeoutError as exc:
            raise UpstreamUnavailable(
                f"the AI provider did not answer within {self._timeout:g} s; try again"
            ) from exc
        except openai.RateLimitError as exc:
            raise UpstreamUnavailable(
                "the AI provider is rate limiting requests; try again in a minute"
            ) from exc
        except openai.AuthenticationError as exc:
            raise UpstreamUnavailable(
                "the AI provider refused the configured API key (OPENAI_API_KEY)"
            ) from exc
        except openai.APIStatusError as exc:
            raise UpstreamUnavailable(
                f"the AI provider failed (HTTP {exc.status_code}); try again shortly"
            ) from exc
        except openai.APIError as exc:  # connection errors and unreadable answers
            raise UpstreamUnavailable(
                "the AI provider could not be reached; try again shortly"
            ) from exc
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "").strip() if choice is not None else ""
        if not text:
            raise UpstreamUnavailable("the AI provider returned an empty answer; try again")
        usage = response.usage
        return Completion(
            text=text,
            provider=self.name,
            model=response.model or self.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )


def build_provider(settings: Settings) -> Provider:
    choice = settings.AI_PROVIDER
    if choice == "auto":
        choice = "openai" if settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL else "offline"
    if choice == "openai":
        return OpenAIProvider(settings)
    return OfflineAnalyst()
