"""Run the tasks agent: `python -m agents.tasks`."""

from agents.tasks.service import TasksSettings, tasks_service_factory
from mesh.config import load_settings
from mesh.process import run_agent

if __name__ == "__main__":
    settings = load_settings(TasksSettings)
    run_agent(settings, tasks_service_factory(settings))
