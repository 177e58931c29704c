"""The ingest process (`pipeline ingest`, `pipeline backfill`): assembles the sources of `pipeline.sources` (built
from the stream catalog, `pipeline.streams`) and the HTTP endpoints into one process. An entry point: nothing
in the project imports it; other units use `pipeline.sources` (e.g. `client_settings`) instead."""

from pipeline.ingest._backfill import Backfill, BackfillStep
from pipeline.ingest._process import Ingest, run_ingest

__all__ = ["Backfill", "BackfillStep", "Ingest", "run_ingest"]
