"""Every poller of one corp, built from the stream catalog (`pipeline.streams`): a log kind gets the log poller,
the other polled kinds their own class. A poller runs when the corp lists it in `streams:` and has the secrets
of every Exmail app the catalog says it needs."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pipeline import streams
from pipeline.sources._runtime import CorpRuntime, Poller, Runtime
from pipeline.sources.config import CorpConfig
from pipeline.sources.directory import DirectoryPoller
from pipeline.sources.logs import LOG_KINDS, make_log_poller
from pipeline.sources.mail_status import MailStatusPoller
from pipeline.sources.newcount import NewcountPoller
from pipeline.sources.options import OptionsPoller

log = logging.getLogger(__name__)

# the polled kinds that are not log kinds: poller name -> class
_POLLERS: dict[str, Callable[[Runtime, CorpRuntime], Poller]] = {
    "directory": DirectoryPoller, "mail_status": MailStatusPoller, "options": OptionsPoller,
    "newcount": NewcountPoller,
}


def enabled(corp: CorpConfig, stream: str) -> bool:
    """Listed in the corp's `streams:`, and every Exmail app it needs has a secret (else skipped with a warning)."""
    if stream not in corp.streams:
        return False
    refs = corp.secrets.model_dump()
    missing = [app for app in streams.by_poller(stream).apps if not refs.get(app)]
    if missing:
        log.warning("%s: stream %s disabled: no secret for app(s) %s", corp.name, stream, ", ".join(missing))
        return False
    return stream != "newcount" or bool(corp.newcount.mailboxes)


def build_pollers(rt: Runtime, corp: CorpRuntime) -> dict[str, Poller]:
    """The corp's pollers by stream name; the directory's first (the per-user pollers wait for its list)."""
    cfg = corp.config
    pollers: dict[str, Poller] = {}
    if enabled(cfg, "directory"):
        pollers["directory"] = DirectoryPoller(rt, corp)
    else:
        corp.directory.ready.set()  # nothing will fill it: per-user pollers run on an empty list
    for stream in streams.polled():
        name = stream.poller
        if name is None or name == "directory" or not enabled(cfg, name):
            continue
        pollers[name] = make_log_poller(rt, corp, name) if name in LOG_KINDS else _POLLERS[name](rt, corp)
    return pollers
