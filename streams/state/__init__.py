"""Lead state: the lead-store protocol, its Redis and in-memory implementations, the record bytes and keys."""
