"""The feedback agent: ratings of answers and conversations, stored with their events."""
