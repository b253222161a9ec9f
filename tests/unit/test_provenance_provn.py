"""PROV-N rendering: a parser written here from the W3C PROV-N grammar reads it back to PROV-JSON.

The parser shares no code with ``service.provn``; ``provn_to_json`` and ``declared_endpoints``
are also used by the provenance tests against real databases.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prov.model import ProvDocument, ProvElement, ProvRelation

from service.provenance import local
from service.provn import provn

# PROV-N sections 3.2 to 3.7: each expression's positional arguments, by PROV-JSON key.
POSITIONAL: dict[str, tuple[str, ...]] = {
    "entity": (),
    "agent": (),
    "activity": ("prov:startTime", "prov:endTime"),
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
TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<qname>'[^']*')
      | (?P<typed>%%)
      | (?P<punct>[(),;=\[\]])
      | (?P<word>[^\s(),;=\[\]"']+)
    )""",
    re.VERBOSE,
)
UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def tokens(text: str) -> list[tuple[str, str]]:
    """PROV-N tokens of one expression as (kind, text)."""
    found, at = [], 0
    while at < len(text.rstrip()):
        match = TOKEN.match(text, at)
        assert match is not None, f"cannot read PROV-N at {text[at : at + 40]!r}"
        kind = match.lastgroup
        assert kind is not None
        found.append((kind, match.group(kind)))
        at = match.end()
    return found


def unquote(literal: str) -> str:
    """The text of a PROV-N string literal (ECHAR escapes undone)."""
    return re.sub(r"\\(.)", lambda m: UNESCAPE.get(m.group(1), m.group(1)), literal[1:-1])


def value(toks: list[tuple[str, str]], i: int) -> tuple[Any, int]:
    """One attribute value starting at token ``i``; the value and the next index."""
    kind, text = toks[i]
    if kind == "qname":
        return {"$": text[1:-1], "type": "prov:QUALIFIED_NAME"}, i + 1
    if kind == "string":
        if i + 1 < len(toks) and toks[i + 1][0] == "typed":
            return {"$": unquote(text), "type": toks[i + 2][1]}, i + 3
        return unquote(text), i + 1
    assert kind == "word" and re.fullmatch(r"-?\d+", text), f"not a literal: {text}"
    return int(text), i + 1


def expression(line: str, blank: int) -> tuple[str, str, dict[str, Any]]:
    """(kind, PROV-JSON key, PROV-JSON attributes) of one PROV-N expression."""
    toks = tokens(line)
    kind = toks[0][1]
    assert toks[1] == ("punct", "(") and toks[-1] == ("punct", ")"), line
    body = toks[2:-1]
    key = f"_:n{blank}"
    if kind in ("entity", "agent", "activity") or (len(body) > 1 and body[1] == ("punct", ";")):
        key, body = body[0][1], body[2:]
    attrs: dict[str, Any] = {}
    args: list[str] = []
    i = 0
    while i < len(body):
        kind_i, text = body[i]
        if (kind_i, text) == ("punct", ","):
            i += 1
        elif (kind_i, text) == ("punct", "["):
            i += 1
            while body[i] != ("punct", "]"):
                name = body[i][1]
                assert body[i + 1] == ("punct", "="), line
                found, i = value(body, i + 2)
                if name in attrs:
                    previous = attrs[name]
                    attrs[name] = [*(previous if isinstance(previous, list) else [previous]), found]
                else:
                    attrs[name] = found
                if body[i] == ("punct", ","):
                    i += 1
            i += 1
        else:
            args.append(text)
            i += 1
    names = POSITIONAL[kind]
    assert len(args) <= len(names), f"too many arguments in {line}"
    positional = {name: arg for name, arg in zip(names, args, strict=False) if arg != "-"}
    return kind, key, {**positional, **attrs}


def provn_to_json(text: str) -> dict[str, Any]:
    """Parse the PROV-N that knewwhen writes into a PROV-JSON document."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0] == "document" and lines[-1] == "endDocument"
    doc: dict[str, Any] = {"prefix": {}}
    for n, line in enumerate(lines[1:-1]):
        prefix = re.fullmatch(r"prefix (\S+) <([^>]*)>", line)
        if prefix:
            doc["prefix"][prefix.group(1)] = prefix.group(2)
            continue
        kind, key, attrs = expression(line, n)
        doc.setdefault(kind, {})[key] = attrs
    return doc


def parsed(document: dict[str, Any]) -> ProvDocument:
    """A PROV-JSON document as the ``prov`` package reads it."""
    found: ProvDocument = ProvDocument.deserialize(content=json.dumps(document), format="json")
    return found


def declared_endpoints(document: ProvDocument) -> list[str]:
    """Every relation endpoint that names no declared record of the right kind (should be none)."""
    declared = {r.identifier: r for r in document.get_records(ProvElement)}
    missing = []
    for relation in document.get_records(ProvRelation):
        for attribute, target in relation.formal_attributes:
            if target is None or attribute.localpart in ("time",):
                continue
            record = declared.get(target)
            if record is None:
                missing.append(f"{relation.get_type()} {attribute} -> {target}")
    return missing


SAMPLE: dict[str, Any] = {
    "prefix": {"kw": "https://knewwhen.example/ns#", "st": "https://knewwhen.example/stories/s/"},
    "entity": {
        "st:claim/a%3Ab%2E": {
            "prov:type": {"$": "kw:Claim", "type": "prov:QUALIFIED_NAME"},
            "kw:text": 'He said "no" \\ then\nleft\ttoo',
            "kw:revision": 2,
            "kw:at": {"$": "2020-10-06T22:00:00Z", "type": "xsd:dateTime"},
        },
        "st:document/d": {},
    },
    "activity": {"st:event/e1": {"prov:startTime": "2020-10-06T22:00:00Z", "kw:id": "e1"}},
    "agent": {"st:source/nyt": {"prov:type": {"$": "kw:Source", "type": "prov:QUALIFIED_NAME"}}},
    "wasGeneratedBy": {
        "_:r1": {
            "prov:entity": "st:claim/a%3Ab%2E",
            "prov:activity": "st:event/e1",
            "prov:time": "2020-10-06T22:00:00Z",
        }
    },
    "wasDerivedFrom": {
        "_:r2": {
            "prov:generatedEntity": "st:claim/a%3Ab%2E",
            "prov:usedEntity": "st:document/d",
            "prov:type": {"$": "prov:PrimarySource", "type": "prov:QUALIFIED_NAME"},
        }
    },
    "wasInfluencedBy": {
        "_:r3": {
            "prov:influencee": "st:claim/a%3Ab%2E",
            "prov:influencer": "st:event/e1",
            "kw:stance": "disputes",
        }
    },
    "specializationOf": {
        "_:r4": {"prov:specificEntity": "st:claim/a%3Ab%2E", "prov:generalEntity": "st:document/d"}
    },
}


def test_provn_renders_each_record_in_the_notation() -> None:
    text = provn(SAMPLE)
    assert text.splitlines() == [
        "document",
        "  prefix kw <https://knewwhen.example/ns#>",
        "  prefix st <https://knewwhen.example/stories/s/>",
        "  entity(st:claim/a%3Ab%2E, [prov:type='kw:Claim', "
        'kw:text="He said \\"no\\" \\\\ then\\nleft\\ttoo", kw:revision=2, '
        'kw:at="2020-10-06T22:00:00Z" %% xsd:dateTime])',
        "  entity(st:document/d)",
        '  activity(st:event/e1, 2020-10-06T22:00:00Z, -, [kw:id="e1"])',
        "  agent(st:source/nyt, [prov:type='kw:Source'])",
        "  wasGeneratedBy(st:claim/a%3Ab%2E, st:event/e1, 2020-10-06T22:00:00Z)",
        "  wasDerivedFrom(st:claim/a%3Ab%2E, st:document/d, -, -, -, [prov:type='prov:PrimarySource'])",
        '  wasInfluencedBy(st:claim/a%3Ab%2E, st:event/e1, [kw:stance="disputes"])',
        "  specializationOf(st:claim/a%3Ab%2E, st:document/d)",
        "endDocument",
    ]


def test_json_to_provn_to_json_gives_an_equal_document() -> None:
    back = provn_to_json(provn(SAMPLE))
    assert parsed(back) == parsed(SAMPLE)
    assert back["entity"] == SAMPLE["entity"]


def test_a_changed_attribute_makes_the_documents_differ() -> None:
    text = provn(SAMPLE).replace('kw:stance="disputes"', 'kw:stance="confirms"')
    assert parsed(provn_to_json(text)) != parsed(SAMPLE)


def test_the_endpoint_check_finds_an_undeclared_record() -> None:
    assert declared_endpoints(parsed(SAMPLE)) == []
    broken = {
        **SAMPLE,
        "wasInformedBy": {"_:x": {"prov:informed": "st:event/e1", "prov:informant": "st:event/e9"}},
    }
    assert declared_endpoints(parsed(broken)) == [
        "prov:Communication prov:informant -> st:event/e9"
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("plain-id_1", "plain-id_1"), ("a.b:c", "a%2Eb%3Ac"), ("cli:zoë", "cli%3Azo%C3%AB")],
)
def test_local_names_escape_what_prov_n_would_misread(name: str, expected: str) -> None:
    assert local(name) == expected


def escaped_character_by_character(name: str) -> str:
    """What ``local`` must return: each character but an ASCII letter, digit, - or _ replaced
    by its UTF-8 bytes, percent-encoded."""
    return "".join(
        c
        if (c.isascii() and c.isalnum()) or c in "-_"
        else "".join(f"%{b:02X}" for b in c.encode())
        for c in name
    )


@given(st.text(max_size=40) | st.from_regex(r"[A-Za-z0-9_-]{0,30}", fullmatch=True))
def test_local_names_are_each_character_escaped_as_needed(name: str) -> None:
    assert local(name) == escaped_character_by_character(name)
    assert local(name) == escaped_character_by_character(name)  # the second time remembered
