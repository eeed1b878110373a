"""Offers: the marketplace catalogue."""

__all__: list[str] = []
