"""Kafka: the one client factory, topics, the input codec, outgoing messages, the publisher."""
