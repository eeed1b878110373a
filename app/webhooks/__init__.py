"""Telling partners what changed: the change feed, webhooks and their outbox (API.md §9)."""
