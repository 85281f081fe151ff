"""Claims files and their verdicts."""
