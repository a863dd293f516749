"""The services are real.

A broker that keeps keys and commits offsets, a Redis that answers, and a Faust app that runs
against that broker. Each of these fails when its service is down.
"""

from __future__ import annotations

import asyncio

import faust
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.integration


async def _create_topics(bootstrap: str, *names: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, replication_factor=1) for n in names])
        # a new topic reaches the broker's metadata a moment after the controller accepted it
        deadline = asyncio.get_running_loop().time() + 15
        while not set(names) <= set(await admin.list_topics()):
            assert asyncio.get_running_loop().time() < deadline, f"{names} never appeared"
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def test_kafka_round_trip_keeps_key_and_commits(kafka_bootstrap: str, unique: str) -> None:
    topic, group = f"smoke-{unique}", f"smoke-group-{unique}"
    await _create_topics(kafka_bootstrap, topic, partitions=2)

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b"hello", key=b"lead-42")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
        assert (message.key, message.value, message.partition) == (
            b"lead-42",
            b"hello",
            sent.partition,
        )
        tp = TopicPartition(topic, message.partition)
        await consumer.commit({tp: message.offset + 1})
        assert await consumer.committed(tp) == message.offset + 1
    finally:
        await consumer.stop()


async def test_redis_round_trip(redis_url: str, unique: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        assert await client.ping()
        key = f"smoke:{{{unique}}}"
        await client.hset(key, mapping={"score": 85, "grade": "A1"})
        assert await client.hgetall(key) == {b"score": b"85", b"grade": b"A1"}
        await client.delete(key)
    finally:
        await client.aclose()


async def test_faust_app_relays_between_topics(kafka_bootstrap: str, unique: str) -> None:
    app = faust.App(
        f"smoke-{unique}",
        broker=f"kafka://{kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_partitions=1,
        topic_replication_factor=1,
        producer_acks=-1,
    )
    await _create_topics(kafka_bootstrap, f"smoke-in-{unique}", f"smoke-out-{unique}")
    source = app.topic(f"smoke-in-{unique}", key_serializer="raw", value_serializer="raw")
    sink = app.topic(f"smoke-out-{unique}", key_serializer="raw", value_serializer="raw")

    @app.agent(source)
    async def relay(stream: faust.StreamT[bytes]) -> None:
        async for key, value in stream.items():
            await sink.send(key=key, value=value.upper())

    await app.start()
    try:
        await source.send(key=b"lead-7", value=b"pricing page")
        consumer = AIOKafkaConsumer(
            sink.get_topic_name(), bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), timeout=60)
        finally:
            await consumer.stop()
        assert (message.key, message.value) == (b"lead-7", b"PRICING PAGE")
    finally:
        await app.stop()
