"""The coordinator: runs each conversation turn across the agents and stores it."""
