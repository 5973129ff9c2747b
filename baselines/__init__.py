"""Compared methods behind one ``Restorer`` interface (filled in by the baselines issues)."""
