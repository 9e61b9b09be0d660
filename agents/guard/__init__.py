"""The guard: screens every user message for prompt injection and personal data before other agents see it."""
