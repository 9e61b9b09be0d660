"""Answer generation: the deterministic local writer and its phrase tables (Gemini lives elsewhere)."""
