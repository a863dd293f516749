"""Which topic an event type travels on, and creating the topics with chosen partition counts.

Events are keyed by ``lead_id`` so one lead's events stay in order on one partition of each topic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from scoring.events import EventType
from streams.kafka.clients import kafka_admin
from streams.settings import Settings, TopicNames

# The input topics are the log of record: `leadscore rebuild` restores Redis exactly only from every
# event a lead ever had (decay never quite reaches zero, profile attributes never expire).
INPUT_TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}

_FAMILY: dict[EventType, str] = {
    EventType.PAGE_VIEW: "page_views",
    EventType.WEBINAR_REGISTERED: "webinars",
    EventType.WEBINAR_ATTENDED: "webinars",
    EventType.EMAIL_OPENED: "emails",
    EventType.EMAIL_CLICKED: "emails",
    EventType.EMAIL_UNSUBSCRIBED: "emails",
    EventType.PROFILE_UPDATED: "profiles",
}


def topic_for(event_type: EventType, topics: TopicNames) -> str:
    """The input topic of an event type; types without a family of their own go to activity."""
    name: str = getattr(topics, _FAMILY.get(event_type, "activity"))
    return name


def planned_topics(settings: Settings) -> dict[str, int]:
    """Every topic leadscore uses, with its partition count."""
    topics = settings.topics
    plan = dict.fromkeys(topics.consumed, settings.topic_partitions)
    plan.update(dict.fromkeys(topics.outputs, settings.topic_partitions))
    return plan


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    admin = kafka_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        inputs = set(settings.topics.consumed)
        missing = [
            NewTopic(
                name,
                partitions,
                replication_factor=1,
                topic_configs=INPUT_TOPIC_CONFIG if name in inputs else {},
            )
            for name, partitions in planned_topics(settings).items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()


async def partitions_of(settings: Settings, topics: Sequence[str]) -> dict[str, int]:
    """How many partitions each existing topic has (missing topics are left out)."""
    admin = kafka_admin(settings)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return {
        str(d["topic"]): len(d["partitions"])
        for d in described
        if not d.get("error_code") and d.get("partitions")
    }


async def message_limit(settings: Settings, topic: str) -> int | None:
    """The topic's ``max.message.bytes``; None when the topic or the setting cannot be read."""
    admin = kafka_admin(settings)
    await admin.start()
    try:
        wanted = ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": None})
        responses = await admin.describe_configs([wanted])
    finally:
        await admin.close()
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                return None
            for entry in resource["config_entries"]:
                if entry["config_names"] == "max.message.bytes":
                    return int(entry["config_value"])
    return None
