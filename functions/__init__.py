"""Takeover: the serverless functions that pause the AI agent while a human takes over."""
