"""HTTP only: one router per area, thin handlers; auth dependencies live in ``deps.py``."""
