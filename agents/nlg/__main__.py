"""Run the NLG agent: `python -m agents.nlg` (Gemini when GEMINI_API_KEY or Vertex AI is set)."""

from agents.nlg.service import NlgSettings, nlg_service_factory
from mesh.config import load_settings
from mesh.process import run_agent

if __name__ == "__main__":
    settings = load_settings(NlgSettings)
    run_agent(settings, nlg_service_factory(settings))
