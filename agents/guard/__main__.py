"""Run the guard agent: `python -m agents.guard`."""

from agents.guard.service import GuardSettings, guard_service
from mesh.config import load_settings
from mesh.process import run_agent

if __name__ == "__main__":
    run_agent(load_settings(GuardSettings), guard_service)
