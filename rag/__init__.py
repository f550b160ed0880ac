"""polrag's library: domain types, settings, embeddings, collections and search.

Nothing here imports ``api`` or ``ingest``; heavy libraries (torch, faiss,
sentence-transformers) are imported inside the functions that need them so that
importing ``rag`` stays cheap.
"""
