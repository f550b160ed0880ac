"""Collections in PostgreSQL + pgvector, shared by API replicas and ingest processes on many machines.

A collection is a schema of its own (``c_<random hex>``), listed in ``polrag.collections``:
- each collection may hold vectors of another dimension, and a typed column and its HNSW
  index need one dimension;
- BM25's document frequencies and lengths are per collection, so no query filters a shared
  table by a key column to count them;
- deleting a collection is one ``DROP SCHEMA … CASCADE`` in one transaction, and a collection
  made again under the same name gets a new schema, so a replica still holding the old one
  finds it gone instead of reading the new one's rows as its own.
A key column would have let one HNSW index serve every collection; filtered searches would
then depend on iterative scans for every query, and a delete would be a long DELETE.
"""
