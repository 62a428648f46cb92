"""SociaLLM: a runtime for LLM agent societies."""

__version__ = "0.1.0"
