"""polrag's library: domain types, settings, embeddings, collections and search.

Nothing here imports ``api`` or ``ingest``; heavy libraries (torch, faiss,
sentence-transformers) are imported inside the functions that need them so that
importing ``rag`` stays cheap.
"""

import os as _os

# OpenMP threads that spin while they wait turn a busy CPU into a 10-30x slowdown of
# torch (measured: a MiniLM query took 435 ms instead of 15 ms beside one busy process).
# Passive waiting must be chosen before torch loads; an explicit setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
