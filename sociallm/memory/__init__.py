"""Reflective memory: a memory stream on ChromaDB, retrieval scoring, reflection (see section.py)."""
