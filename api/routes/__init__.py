"""One router per feature; each route is a thin call into ``rag`` through ``api.services``."""
