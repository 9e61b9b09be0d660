"""The support team's command line (`python -m support`): find and export conversations, erase a user's data
on request (LGPD art. 18), apply the retention period, and turn thumbs-down answers into evaluation cases.

It talks to MongoDB and Redis through `mesh.storage`, configured like every process (MONGO_URI, REDIS_URL,
RETENTION_DAYS), so it runs against a deployment with that deployment's own configuration.
"""
