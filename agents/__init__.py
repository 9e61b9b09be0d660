"""The mesh's agents: one gRPC service each (guard, nlu, nlg, context, tasks, feedback)."""
