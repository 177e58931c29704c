"""Address book import and export (`pipeline directory export|import`).

Export writes the live directory (departments by path, users with every documented field, mail groups with
their members) as CSV, XLSX or JSON. Import reads the same formats (UTF-8 or GBK CSV, English or Chinese
headers), plans the changes against the live directory, and applies them resumably: a journal next to the
file, converging ops, one exmail.actions record per op. See docs/directory.md.
"""

from pipeline.directory._formats import FORMATS, read_file
from pipeline.directory._journal import Journal, JournalError
from pipeline.directory._live import LiveDirectory, read_groups, read_live
from pipeline.directory._run import (
    ImportRefused,
    PreparedImport,
    default_journal,
    export_directory,
    prepare_import,
    render,
)
from pipeline.directory.apply import ApplyReport, Interrupted, apply_plan
from pipeline.directory.model import DirectoryFile, Rejected, Row
from pipeline.directory.plan import Op, Plan, make_plan

__all__ = [
    "FORMATS",
    "ApplyReport",
    "DirectoryFile",
    "ImportRefused",
    "Interrupted",
    "Journal",
    "JournalError",
    "LiveDirectory",
    "Op",
    "Plan",
    "PreparedImport",
    "Rejected",
    "Row",
    "apply_plan",
    "default_journal",
    "export_directory",
    "make_plan",
    "prepare_import",
    "read_file",
    "read_groups",
    "read_live",
    "render",
]
