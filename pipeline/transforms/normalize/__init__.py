"""Normalize: every raw Exmail / HR record -> one ECS + OCSF event on exmail.events (schema exmail.event/1).

Pure functions, no faust: one mapper module per raw kind, `normalize()` dispatches by envelope schema.
The mapping is documented in schemas/MAPPING.md and validated by schemas/event.v1.json.
"""

from pipeline.transforms.normalize._common import NormalizeError
from pipeline.transforms.normalize._dispatch import MAPPERS, event_key, normalize
from pipeline.transforms.normalize._enrich import DirectoryLookup, DirectoryUser

__all__ = ["MAPPERS", "DirectoryLookup", "DirectoryUser", "NormalizeError", "event_key", "normalize"]
