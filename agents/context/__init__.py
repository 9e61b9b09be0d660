"""The context agent: recent history (MongoDB) and session state (Redis)."""
