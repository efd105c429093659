"""Report rows: text tables (text), atomic CSV/JSON writers (io), figures (plots)."""
