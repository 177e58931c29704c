"""Sources: Exmail pollers, the new-mail callback endpoint and the HR intake, producing to exmail.raw.* and
hr.lifecycle. The process that runs them is `pipeline.ingest`; see README.md in this folder."""

from pipeline.sources.config import CorpConfig, IngestConfig, config_from_sim_credentials

__all__ = ["CorpConfig", "IngestConfig", "config_from_sim_credentials"]
