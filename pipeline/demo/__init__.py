"""`pipeline demo`: the whole pipeline on one machine — local Kafka, the simulator on a fast clock, `pipeline
ingest` and `pipeline worker` on SQLite with the default rule pack — with live progress and a summary."""

from pipeline.demo._run import DemoOptions, DemoRun

__all__ = ["DemoOptions", "DemoRun"]
