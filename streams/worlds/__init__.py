"""Worlds leadscore did not write: adapters from outside simulators, and the harness that scores
every model on them the same way.

leadscore's own simulator (``scoring.simulate``) was written together with the default model, so a
good figure on it proves little. These modules turn other people's synthetic CRMs into leadscore
events and outcomes, so that the default model, ``calibrate --fit`` and plain classifiers can be
compared on data whose authors never saw leadscore's rules.
"""
