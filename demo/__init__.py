"""The demo site that stands in for the existing task-management website (see `demo.site`)."""

from __future__ import annotations

from demo.data import DemoData, DemoTask, DemoUser, load_demo_data
from demo.site import create_demo_app

__all__ = ["DemoData", "DemoTask", "DemoUser", "create_demo_app", "load_demo_data"]
