"""`import-history FILE`: imports a host's past chats (JSON Lines or CSV) into the assistant's store."""
