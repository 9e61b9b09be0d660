"""Offline evaluations of the assistant's language parts: `python -m eval.nlu`, `python -m eval.nlg`."""
