"""Run the tasks agent: `python -m agents.tasks`."""

from agents.tasks.service import TasksSettings, tasks_service_factory
from mesh.process import run_agent

if __name__ == "__main__":
    settings = TasksSettings()
    run_agent(settings, tasks_service_factory(settings))
