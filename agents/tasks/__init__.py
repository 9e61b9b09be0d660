"""The tasks agent: one user's task facts, from the copy synced from the host site."""
