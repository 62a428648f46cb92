"""Agents: the cognitive loop and its parts (prompts; affect, memory and theory of mind plug in)."""
