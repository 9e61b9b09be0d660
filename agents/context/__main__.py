"""Run the context agent: `python -m agents.context`."""

from agents.context.service import ContextSettings, context_service_factory
from mesh.config import load_settings
from mesh.process import run_agent

if __name__ == "__main__":
    settings = load_settings(ContextSettings)
    run_agent(settings, context_service_factory(settings))
