"""The app language: a bounded JSON document a small model fills under a grammar, checked and compiled
to SDK TypeScript by deterministic code (docs/gateway.md, "The app language").

    schema()                      -> the JSON schema (every array bounded) for a llama.cpp grammar
    parse_document(text_or_json)  -> Document, or the list of located structural errors
    validate(document)            -> every located semantic error (names, bindings, types, expressions)
    check(text_or_json)           -> (Document | None, errors): parse + validate in one call
    compile_app(document)         -> CompiledApp(code, title, scopes); raises DocumentError if invalid
    explain_unsupported(request)  -> a plain-words reason when a request is clearly out of scope, else None
    fill(request, complete, ...)  -> the bounded repair loop around a model (repair.py)

The gateway's strategy around a small model (retrieval of the nearest examples, adapting a close
one, writing with repairs, honest failure) is generation.steps(); retrieval.py and adapt.py are its
parts (docs/gateway.md, "Making an app offline").
"""

from __future__ import annotations

from typing import Any

from llmos.kernel.applang.compile import CompiledApp, compile_app
from llmos.kernel.applang.document import Document, decode, read_document
from llmos.kernel.applang.errors import DocumentError, LocatedError
from llmos.kernel.applang.repair import Outcome, fill, prompt
from llmos.kernel.applang.schema import schema
from llmos.kernel.applang.scope import explain_unsupported
from llmos.kernel.applang.validate import validate


def parse_document(source: str | dict[str, Any]) -> Document | list[LocatedError]:
    """A Document from JSON text (or already decoded JSON), or its structural errors."""
    data, errors = decode(source) if isinstance(source, str) else (source, [])
    if errors:
        return errors
    document, errors = read_document(data)
    return errors if errors else document


def check(source: str | dict[str, Any]) -> tuple[Document | None, list[LocatedError]]:
    """Parse and validate; the document is returned only when it has no errors at all."""
    parsed = parse_document(source)
    if isinstance(parsed, list):
        return None, parsed
    errors = validate(parsed)
    return (None, errors) if errors else (parsed, [])


__all__ = ["CompiledApp", "Document", "DocumentError", "LocatedError", "Outcome", "check", "compile_app",
           "explain_unsupported", "fill", "parse_document", "prompt", "schema", "validate"]
