"""The client PDF report: document.py assembles it from its sections."""
