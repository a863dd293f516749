"""Lead state: the lead-store protocol, its Redis and in-memory stores, record bytes, keys."""
