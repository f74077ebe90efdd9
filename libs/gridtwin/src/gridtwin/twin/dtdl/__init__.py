"""DTDL v2/v3 model sets: parse, check against the language's rules, and validate twins.

The official parser is .NET-only; this one is ours, and ``tests/twin/dtdl`` checks that it agrees with
the official one (via ``tools/dtdl-official``) on a corpus of valid and invalid model sets.
"""

from gridtwin.twin.dtdl.model import Content, Interface, Schema
from gridtwin.twin.dtdl.model_set import ModelSet, load_model_set, parse_model_set, read_documents

__all__ = [
    "Content",
    "Interface",
    "ModelSet",
    "Schema",
    "load_model_set",
    "parse_model_set",
    "read_documents",
]
