"""The web app: static files served by the API process at ``/`` (no build step)."""
