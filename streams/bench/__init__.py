"""``leadscore bench``: how fast the pipeline is, measured against what its parts could reach.

Every figure is paired with a baseline taken in the same run on the same data and broker, because a
shared machine's absolute numbers mean little; the ratios are what later optimisation is judged by.
"""
