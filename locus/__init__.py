"""LOCUS: compact embeddings of language models learned from their evaluation results.

Importable without Ray: the data model and store, importers, query encoders, the model,
training, embedding and metrics live here; Ray jobs and Serve apps build on them.
"""

__version__ = "0.1.0"
