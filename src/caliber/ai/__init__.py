"""The AI analyst: insights and chat grounded in a campaign's stored numbers."""
