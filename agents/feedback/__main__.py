"""Run the feedback agent: `python -m agents.feedback`."""

from agents.feedback.service import FeedbackSettings, feedback_service_factory
from mesh.config import load_settings
from mesh.process import run_agent

if __name__ == "__main__":
    settings = load_settings(FeedbackSettings)
    run_agent(settings, feedback_service_factory(settings))
