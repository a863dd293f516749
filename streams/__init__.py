"""Adapters that put the scoring domain on Kafka and Redis.

The Faust app, the Redis state store, HTTP, metrics and the CLI live here; ``scoring`` never imports
from this package.
"""
