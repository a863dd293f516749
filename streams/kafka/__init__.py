"""Kafka: the one client factory, topics, the input codec, the messages the worker publishes and the publisher."""
