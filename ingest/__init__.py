"""Ingestion: files -> pages -> clean text -> chunks -> vectors -> a collection."""
