"""polrag's interfaces: the `polrag` command line (and, next, the HTTP API)."""
