"""Renders a PROV-JSON document as PROV-N (W3C PROV Notation), the text auditors read.

Only the record kinds ``service.provenance`` writes are rendered; each relation's positional
arguments follow the PROV-N grammar, with ``-`` for an absent optional one, and anonymous
relations (PROV-JSON blank ids ``_:…``) are written without an identifier.
"""

from __future__ import annotations

from typing import Any

MEDIA_TYPE = "text/provenance-notation"

ELEMENTS: dict[str, tuple[str, ...]] = {
    "entity": (),
    "activity": ("prov:startTime", "prov:endTime"),
    "agent": (),
}
RELATIONS: dict[str, tuple[str, ...]] = {
    "wasGeneratedBy": ("prov:entity", "prov:activity", "prov:time"),
    "used": ("prov:activity", "prov:entity", "prov:time"),
    "wasInformedBy": ("prov:informed", "prov:informant"),
    "wasAssociatedWith": ("prov:activity", "prov:agent", "prov:plan"),
    "wasAttributedTo": ("prov:entity", "prov:agent"),
    "wasDerivedFrom": (
        "prov:generatedEntity",
        "prov:usedEntity",
        "prov:activity",
        "prov:generation",
        "prov:usage",
    ),
    "wasInfluencedBy": ("prov:influencee", "prov:influencer"),
    "specializationOf": ("prov:specificEntity", "prov:generalEntity"),
}
NO_ATTRIBUTES = frozenset({"specializationOf"})
ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def string_literal(text: str) -> str:
    """A PROV-N string literal, with ECHAR escapes."""
    return '"' + "".join(ESCAPES.get(c, c) for c in text) + '"'


def literal(value: Any) -> str:
    """A PROV-JSON attribute value as a PROV-N literal."""
    if isinstance(value, bool):
        return f"{string_literal(str(value).lower())} %% xsd:boolean"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        if value["type"] == "prov:QUALIFIED_NAME":
            return f"'{value['$']}'"
        return f"{string_literal(value['$'])} %% {value['type']}"
    return string_literal(str(value))


def attributes(values: dict[str, Any], positional: tuple[str, ...]) -> str:
    """``[name=value, …]`` for the attributes not written as positional arguments."""
    pairs = []
    for name, value in values.items():
        if name in positional:
            continue
        for each in value if isinstance(value, list) else [value]:
            pairs.append(f"{name}={literal(each)}")
    return f"[{', '.join(pairs)}]" if pairs else ""


def statement(kind: str, identifier: str | None, values: dict[str, Any]) -> str:
    """One PROV-N expression."""
    positional = ELEMENTS.get(kind) if kind in ELEMENTS else RELATIONS[kind]
    assert positional is not None
    args = [identifier] if identifier is not None and kind in ELEMENTS else []
    args.extend(str(values.get(name, "-")) for name in positional)
    if kind not in NO_ATTRIBUTES:
        extra = attributes(values, positional)
        if extra:
            args.append(extra)
    named = f"{identifier}; " if identifier is not None and kind not in ELEMENTS else ""
    return f"{kind}({named}{', '.join(args)})"


def provn(document: dict[str, Any]) -> str:
    """The whole PROV-JSON ``document`` in PROV-N."""
    lines = ["document"]
    lines.extend(f"  prefix {name} <{uri}>" for name, uri in document.get("prefix", {}).items())
    for kind in (*ELEMENTS, *RELATIONS):
        for key, values in document.get(kind, {}).items():
            identifier = None if key.startswith("_:") else key
            lines.append(f"  {statement(kind, identifier, values)}")
    lines.append("endDocument")
    return "\n".join(lines) + "\n"
