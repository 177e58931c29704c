"""The faust worker (`pipeline worker`): builds the app and the agents selected in config.

Business logic lives in pipeline/transforms and pipeline/sinks; this package only wires it to Kafka.
"""

from pipeline.worker.app import WorkerContext, build_app

__all__ = ["WorkerContext", "build_app"]
