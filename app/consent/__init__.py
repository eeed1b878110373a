"""Consent: the field catalogue, disclosure (pure), grants, cuts and receipts."""
