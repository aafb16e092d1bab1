"""The offline analyst: deterministic text from a campaign's context, without a model."""
