"""The operator console: server-rendered pages (Chinese and English) over the worker's live state and the
existing APIs, behind the auth layer's roles, served by the worker at /console (see app.py)."""

from pipeline.console.app import ConsoleDeps, create_console_app
from pipeline.console.config import ConsoleConfig

__all__ = ["ConsoleConfig", "ConsoleDeps", "create_console_app"]
