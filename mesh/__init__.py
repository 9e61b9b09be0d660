"""Shared plumbing for every process of the mesh: config, logs, telemetry, gRPC bootstrap, stores, auth.

It imports only gen/ (the contracts) and libraries, never agents/, coordinator/ or edge/.
"""
