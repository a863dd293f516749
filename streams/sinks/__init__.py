"""Consumers of the worker's output topics that deliver alerts elsewhere (today: a webhook)."""
