"""Run the guard agent: `python -m agents.guard`."""

from agents.guard.service import guard_service
from mesh.process import AgentSettings, run_agent

if __name__ == "__main__":
    run_agent(AgentSettings(service_name="guard"), guard_service)
