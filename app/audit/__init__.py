"""The append-only access log: who read what, when, under which grants."""
