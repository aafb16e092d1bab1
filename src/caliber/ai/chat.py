"""The analyst's chat: a question about a campaign (or a general one) answered with the
conversation's last messages, and the stored conversations, read and cleared only by
their owner.

The question is rate limited (429) after the campaign's ownership check (404); a
question naming a scored domain adds that domain's breakdown to the context. The turn
(question and answer) is stored only once the provider has answered.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from caliber.ai import prompts
from caliber.ai.base import AnalystBase
from caliber.ai.context import campaign_context, domain_context, find_domain
from caliber.ai.providers import AIRequest
from caliber.core.errors import NotFound
from caliber.db.base import utcnow
from caliber.db.models import ChatConversation, ChatMessage
from caliber.orgs.policy import Member

HISTORY_SENT = 10  # earlier messages sent with a chat question
SUMMARY_MESSAGES = 5
_DOMAIN_LIKE = re.compile(r"[\w-]+(?:\.[\w-]+)+", re.UNICODE)


class Chat(AnalystBase):
    """Answering the user's questions, and their conversations' history."""

    @staticmethod
    def conversation_id(owner_id: uuid.UUID, campaign_id: uuid.UUID | None) -> str:
        return f"{owner_id}:{campaign_id if campaign_id is not None else 'general'}"

    def _messages(
        self, session: Session, conversation_id: str, limit: int | None
    ) -> list[ChatMessage]:
        query = (
            select(ChatMessage)
            .where(ChatMessage.conversation_id == conversation_id)
            .order_by(ChatMessage.created_at.desc(), ChatMessage.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        return list(reversed(list(session.scalars(query))))

    def chat(
        self,
        session: Session,
        member: Member,
        message: str,
        campaign_id: uuid.UUID | None = None,
        client: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Answer in the member's own conversation (chat histories stay personal) about a
        campaign of the organization, or in general."""
        owner_id = member.user_id
        context = (
            campaign_context(session, member.organization_id, campaign_id)
            if campaign_id is not None
            else None
        )
        self.limiter.hit(str(owner_id))
        conversation_id = self.conversation_id(owner_id, campaign_id)
        earlier = self._messages(session, conversation_id, HISTORY_SENT)
        history = [{"role": m.role, "content": m.content} for m in earlier]
        if context is not None and context.get("scored"):
            for candidate in _DOMAIN_LIKE.findall(message):
                row = find_domain(session, context, candidate)
                if row is not None:
                    context["domain"] = domain_context(context, row)
                    break
        if context is not None and client:
            context["client_context"] = client
        messages = [{"role": "system", "content": prompts.CHAT_SYSTEM}]
        messages += [
            {
                "role": m["role"],
                "content": prompts.fence("earlier_message", m["content"])
                if m["role"] == "user"
                else m["content"],
            }
            for m in history
        ]
        messages.append(
            {
                "role": "user",
                "content": prompts.render(
                    "chat_user",
                    {
                        "campaign_context": context or "none: a general conversation",
                        "client_context": client or {},
                        "question": message,
                    },
                ),
            }
        )
        completion = self._complete(
            AIRequest("chat", messages, context, question=message, history=history)
        )
        conversation = session.get(ChatConversation, conversation_id)
        if conversation is None:
            conversation = ChatConversation(
                id=conversation_id, owner_id=owner_id, campaign_id=campaign_id
            )
            session.add(conversation)
        now = utcnow()
        conversation.updated_at = now
        session.add(
            ChatMessage(
                conversation_id=conversation_id, role="user", content=message, created_at=now
            )
        )
        session.add(
            ChatMessage(
                conversation_id=conversation_id,
                role="assistant",
                content=completion.text,
                created_at=now + timedelta(microseconds=1),  # after the question, always
            )
        )
        self._record(session, owner_id, campaign_id, "chat", completion)
        session.flush()
        recent = [*history, {"role": "user", "content": message}]
        return {
            "response": completion.text,
            "conversation_id": conversation_id,
            "timestamp": now,
            "context": self._summary(recent, len(history) + 2),
            "provider": completion.provider,
        }

    @staticmethod
    def _summary(messages: list[dict[str, str]], total: int) -> str:
        asked = [m["content"] for m in messages if m["role"] == "user"][-SUMMARY_MESSAGES:]
        topics = "; ".join(q if len(q) <= 60 else q[:57] + "..." for q in asked)
        return f"{total} messages in this conversation. Recent questions: {topics}"

    def _owned_conversation(
        self, session: Session, owner_id: uuid.UUID, conversation_id: str
    ) -> ChatConversation | None:
        """The user's conversation, None if it has no messages yet; 404 if it is not
        (and cannot become) theirs."""
        conversation = session.get(ChatConversation, conversation_id)
        if conversation is not None and conversation.owner_id == owner_id:
            return conversation
        if conversation is None and conversation_id.startswith(f"{owner_id}:"):
            return None
        raise NotFound("conversation not found", conversation_id=conversation_id)

    def history(
        self, session: Session, owner_id: uuid.UUID, conversation_id: str
    ) -> dict[str, Any]:
        conversation = self._owned_conversation(session, owner_id, conversation_id)
        messages = [] if conversation is None else self._messages(session, conversation_id, None)
        return {
            "conversation_id": conversation_id,
            "messages": [
                {"role": m.role, "content": m.content, "timestamp": m.created_at} for m in messages
            ],
            "created_at": None if conversation is None else conversation.created_at,
            "updated_at": None if conversation is None else conversation.updated_at,
        }

    def clear_history(self, session: Session, owner_id: uuid.UUID, conversation_id: str) -> None:
        conversation = self._owned_conversation(session, owner_id, conversation_id)
        if conversation is not None:
            session.execute(
                delete(ChatMessage).where(ChatMessage.conversation_id == conversation_id)
            )
            session.delete(conversation)
            session.flush()
