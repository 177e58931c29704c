"""Moved to pipeline.clock (shared by delivery, auth and the Exmail client); kept so the delivery runtime's
imports keep working while it is rewritten. New code imports pipeline.clock."""

from pipeline.clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]
