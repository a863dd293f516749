"""Events travel on the topic of their family; every topic honours the prefix."""

from __future__ import annotations

import pytest

from scoring.events import EventType
from streams.kafka.topics import planned_topics, topic_for
from streams.settings import Settings, TopicNames


@pytest.mark.parametrize(
    ("event_type", "topic"),
    [
        (EventType.PAGE_VIEW, "p.engagement.page-views"),
        (EventType.WEBINAR_ATTENDED, "p.engagement.webinars"),
        (EventType.WEBINAR_REGISTERED, "p.engagement.webinars"),
        (EventType.EMAIL_OPENED, "p.engagement.emails"),
        (EventType.EMAIL_UNSUBSCRIBED, "p.engagement.emails"),
        (EventType.PROFILE_UPDATED, "p.leads.profiles"),
        (EventType.MEETING_BOOKED, "p.engagement.activity"),
        (EventType.PRODUCT_USAGE, "p.engagement.activity"),
    ],
)
def test_topic_for_each_type(event_type: EventType, topic: str) -> None:
    assert topic_for(event_type, TopicNames("p.")) == topic


def test_every_type_has_a_topic_the_worker_consumes() -> None:
    topics = TopicNames("")
    assert {topic_for(t, topics) for t in EventType} == set(topics.inputs)


def test_planned_topics_cover_inputs_and_outputs() -> None:
    settings = Settings(topic_prefix="x.", topic_partitions=6)
    plan = planned_topics(settings)
    assert set(plan) == {
        "x.engagement.page-views",
        "x.engagement.webinars",
        "x.engagement.emails",
        "x.engagement.activity",
        "x.leads.profiles",
        "x.leads.hot",
        "x.leads.scores",
        "x.leadscore.dlq",
        "x.leadscore.identity",  # internal: identity links and touches (issue 15)
        "x.leadscore.accounts",  # internal: leads' summaries for their accounts
        "x.accounts.hot",
        "x.engagement.analytics",  # analytics-spec calls, one per message (issue 15)
        "x.leads.shadow",  # a shadow model's would-be alerts (issue 17)
    }
    assert set(plan.values()) == {6}


def test_settings_reject_a_bootstrap_without_port() -> None:
    with pytest.raises(ValueError, match="host:port"):
        Settings(kafka_bootstrap="localhost")
