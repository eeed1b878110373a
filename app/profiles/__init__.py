"""Profiles: the document schema, create/patch/read services, the access log."""
