"""The host task sync: copies the host site's tasks from its own database into the assistant's store."""
