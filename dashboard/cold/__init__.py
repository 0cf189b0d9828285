"""History beyond memory: the archive's incidents, searched and recalled; the job that keeps
memory and the hot log bounded (``keeper``)."""
