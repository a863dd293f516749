"""The pure lead-scoring domain: events, models, rules, decay, thresholds, routing, explanations.

Nothing in this package performs I/O or imports from ``streams``; the stream worker, the CLI and the
offline tools all call into it, so a score means the same thing wherever it is computed.
"""
