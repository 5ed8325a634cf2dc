"""Framework-free decision logic for each strategy family (no model calls, no framework imports)."""
