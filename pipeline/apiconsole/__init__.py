"""API console for integrators: every Exmail endpoint with its app, method and parameters, and one call that
returns the request, the answer (secrets masked), the time taken and, on an error, the errcode's meaning with a
fix hint. `pipeline api list|call` is its CLI; a web console can reuse `catalog()` and `call()`."""

from pipeline.apiconsole._console import (
    CallResult,
    ConsoleError,
    EndpointInfo,
    ParamInfo,
    call,
    catalog,
    endpoint,
    parse_params,
)
from pipeline.apiconsole._hints import explain

__all__ = [
    "CallResult",
    "ConsoleError",
    "EndpointInfo",
    "ParamInfo",
    "call",
    "catalog",
    "endpoint",
    "explain",
    "parse_params",
]
