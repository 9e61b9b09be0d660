"""Run the NLG agent: `python -m agents.nlg`."""

from agents.nlg.service import nlg_service
from mesh.process import AgentSettings, run_agent

if __name__ == "__main__":
    run_agent(AgentSettings(service_name="nlg"), nlg_service)
