"""Register-transfer-level models of the simulated hardware (Amaranth HDL, optional extra)."""
