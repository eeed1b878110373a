"""Referrals and progress readings."""

__all__: list[str] = []
