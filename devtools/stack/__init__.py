"""Supervision of the local stack (Redis, Kafka, FerretDB and its PostgreSQL) as plain local processes.

`scripts/stack.sh` installs what is missing (apt, Maven, Go: shell is the right tool there) and then runs
`python -m devtools.stack`, which starts, stops and reports on the servers. Standard library only: it runs
before and beside the mesh. See docs/stack.md.
"""
