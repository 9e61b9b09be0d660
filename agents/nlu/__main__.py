"""Run the NLU agent: `python -m agents.nlu`."""

from agents.nlu.service import NluSettings, nlu_service_factory
from mesh.config import load_settings
from mesh.process import run_agent

if __name__ == "__main__":
    settings = load_settings(NluSettings)
    run_agent(settings, nlu_service_factory(settings))
