"""Register the test-only plug-ins of tests/plugins (the 'tinymac' datapath and the 'subsample'
stage) in this process for a while, as an installed third-party package would be."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from essop_sim.datapaths import register, unregister

PLUGINS = Path(__file__).resolve().parent / "plugins"


@contextmanager
def plugins_registered():
    """Inside: 'tinymac' and 'subsample' are registered and importable. A registered plug-in
    adds a section to every configuration, so registrations never outlive the block."""
    sys.path.insert(0, str(PLUGINS))
    try:
        import tinymac
        import tinymac.stage

        register(tinymac.DATAPATH)
        register(tinymac.stage.STAGE)
        yield
    finally:
        unregister("tinymac")
        unregister("subsample")
        sys.path.remove(str(PLUGINS))
