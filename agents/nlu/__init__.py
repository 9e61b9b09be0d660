"""Natural-language understanding: intent, entities and language of one user message, with no network."""
