"""Onward: the consent-driven "tell us once" service for people leaving prison."""
