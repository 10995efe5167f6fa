"""The centre checks most events in C, with msgspec types derived from the pydantic
schemas (sync.central.compiled_schemas), and hands what they refuse to the pydantic
path. That is only right if the compiled check never takes what the pydantic path
refuses, and takes what the agent sends. Here both are tried on the same inputs: values
at and past every constraint, wrong JSON types, missing and unknown keys, duplicate
keys, times in the forms either parser reads."""

from __future__ import annotations

import json
import types
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator

from bench.fleet_stores import make_store
from sync.central.compiled_schemas import NotCompilable, _struct, data_decoder
from sync.central.ingest import _check_event, _compiled_event, _Refused, ingest_batch
from sync.protocol.batches import split_batch
from sync.protocol.chain import CHAIN_ATTRIBUTE, event_hash
from sync.protocol.envelope import event_source
from sync.protocol.event_schemas import EVENT_SCHEMAS, validate_event_data

COMPILED = sorted(key for key in EVENT_SCHEMAS if data_decoder(*key) is not None)
STORE = "store-a"
RECEIVED_AT = "2026-12-07T08:00:00.000000Z"
CHECKS = settings(
    max_examples=300, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip

TIMES = [
    "2026-11-24T08:00:00.000000Z", "2026-11-24t08:00:00z", "2026-11-24 08:00:00Z",
    "2026-11-24T08:00:00.1234567Z", "2026-11-24T08:00:00", "2026-11-24T08:00:60Z",
    "2026-11-24T24:00:00Z", "2026-11-24T08:00:00+24:00", "2026-11-24T08:00:00-00:00",
    "0000-01-01T00:00:00Z", "2026-11-24T08:00:00,5Z", "2026-02-30T08:00:00Z",
    "2026-11-24T08:00Z", "2026-11-24T08:00:00+0100", "2026-11-24T08:00:00+01",
    "20261124T080000Z", "9999-12-31T23:59:59.9999999Z", "9999-12-31T23:00:00-05:00",
    "0001-01-01T00:30:00+01:00", "2026-11-24", "1", " 2026-11-24T08:00:00Z",
    "2026-11-24T08:00:00\uff0b01:00",
]  # fmt: skip
# Any JSON value, drawn as one choice among a field's others (not seven: `|` flattens).
JUNK = st.sampled_from([
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
]).flatmap(lambda strategy: strategy)  # fmt: skip
PER_COMPILED_SCHEMA = pytest.mark.parametrize("key", COMPILED, ids=lambda key: key[0])
TEXT = st.characters(codec="utf-8")  # BMP and beyond, no lone surrogates


def test_the_store_s_common_events_are_compiled_and_the_rest_left_to_pydantic():
    """Which schemas compile is a fact worth failing on: a constraint added to
    scan.recorded that msgspec cannot express would move every scan to the slow path."""
    assert ("scan.recorded", 1) in COMPILED
    assert ("customer.identified", 1) in COMPILED
    # A pattern (Python's `$` also matches before a final newline) and a model
    # validator: msgspec cannot check these as pydantic does.
    assert data_decoder("order.returned", 1) is None
    assert data_decoder("order.requested", 1) is None
    assert data_decoder("no.such.type", 1) is None


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _WithPattern(_Base):
    code: str = Field(pattern=r"^[A-Z]{3}$")


class _WithValidator(_Base):
    n: int

    @field_validator("n")
    @classmethod
    def _even(cls, value: int) -> int:
        return value


class _Strict(_Base):
    model_config = ConfigDict(extra="forbid", strict=True)
    at: datetime


class _ShortStrings(_Base):
    model_config = ConfigDict(extra="forbid", str_max_length=3)
    name: str


class _ExtraAllowed(BaseModel):
    name: str


class _Defaulted(_Base):
    count: int = 1


class _Float(_Base):
    price: float


class _StrictField(_Base):
    n: Annotated[int, Strict()]


@pytest.mark.parametrize(
    "model",
    [_WithPattern, _WithValidator, _Strict, _ShortStrings, _ExtraAllowed, _Defaulted, _Float,
     _StrictField],
    ids=lambda model: model.__name__,
)  # fmt: skip
def test_what_msgspec_cannot_check_as_pydantic_does_is_not_compiled(model):
    with pytest.raises(NotCompilable):
        _struct(model)


@PER_COMPILED_SCHEMA
@CHECKS
@given(data=st.data())
def test_compiled_data_is_taken_only_if_the_schema_takes_it(key, data):
    payload = _draw_data(data, key, valid=False)
    if _compiled_takes(key, payload):
        validate_event_data(*key, msgspec.json.decode(payload))  # raises if it does not


@PER_COMPILED_SCHEMA
@CHECKS
@given(data=st.data())
def test_compiled_data_takes_what_the_schema_takes_in_the_agent_s_forms(key, data):
    payload = _draw_data(data, key, valid=True)
    validate_event_data(*key, msgspec.json.decode(payload))  # the strategy's own check
    assert _compiled_takes(key, payload)


@pytest.mark.parametrize(
    "payload",
    [
        # Duplicate keys: the dictionary keeps the last; msgspec checks each.
        b'{"source": "lane-1", "kind": "", "kind": "gtin", "outcome": "product",'
        b' "scanned_at": "2026-11-24T08:00:00Z"}',
        b'{"source": "lane-1", "kind": "gtin", "kind": "", "outcome": "product",'
        b' "scanned_at": "2026-11-24T08:00:00Z"}',
        b'{"source": "lane-1", "kind": 5, "kind": "gtin", "outcome": "product",'
        b' "scanned_at": "2026-11-24T08:00:00Z"}',
        b'{"source": "lane-1", "kind": "gtin", "outcome": "product",'
        b' "scanned_at": "2026-11-24T08:00:00Z", "value": "1", "value": null}',
    ],
)
def test_duplicate_keys_are_taken_only_as_the_schema_takes_them(payload):
    key = ("scan.recorded", 1)
    if _compiled_takes(key, payload):
        validate_event_data(*key, msgspec.json.decode(payload))


def test_an_alias_s_field_name_is_left_to_pydantic():
    key = ("loyalty.tier_changed", 1)
    by_alias = b'{"customer_id": "c1", "from": "bronze", "to": "silver"}'
    by_name = b'{"customer_id": "c1", "from_tier": "bronze", "to_tier": "silver"}'
    assert _compiled_takes(key, by_alias)
    assert not _compiled_takes(key, by_name)
    validate_event_data(*key, msgspec.json.decode(by_name))  # taken there


@PER_COMPILED_SCHEMA
@CHECKS
@given(data=st.data())
def test_a_compiled_event_is_the_event_the_checks_in_python_make(key, data):
    """The whole envelope: whatever _compiled_event takes, _check_event takes, as the
    same row; and it takes every well-formed event of a compiled type."""
    event, well_formed = data.draw(_envelopes(key))
    raw = _element(json.dumps(event, ensure_ascii=False).encode())
    compiled, checked = _both_checks(raw)
    if well_formed:
        assert checked is not None
        assert compiled == checked
    elif compiled is not None:
        assert compiled == checked


@pytest.mark.parametrize(
    "attributes",
    [
        '"id": "", "id": "e1"',
        '"id": "e1", "id": ""',
        '"id": 7, "id": "e1"',
        '"sequence": "x", "sequence": "5"',
        '"sequence": "5", "sequence": true',
        '"source": "/stores/other/devices/t", "source": "/stores/store-a/devices/t"',
        '"data": null, "data": {"source": "l", "kind": "k", "outcome": "o",'
        ' "scanned_at": "2026-11-24T08:00:00Z"}',
        '"data": {"source": "l", "kind": "k", "outcome": "o", "scanned_at":'
        ' "2026-11-24T08:00:00Z"}, "data": {"source": ""}',
    ],
)
def test_duplicate_envelope_attributes_are_read_as_the_checks_in_python_read_them(attributes):
    base = {
        "specversion": "1.0", "id": "e0", "source": "/stores/store-a/devices/t",
        "type": "scan.recorded", "time": "2026-11-24T08:00:00Z", "sequence": "4",
        "dataschema": "urn:edge-agent:schema:scan.recorded:1",
        "data": {"source": "l", "kind": "k", "outcome": "o", "scanned_at": "2026-11-24T08:00:00Z"},
    }  # fmt: skip
    names = [part.split(":")[0].strip().strip('"') for part in attributes.split(", ")]
    rest = json.dumps({k: v for k, v in base.items() if k not in names})
    raw = _element(f"{rest[:-1]}, {attributes}}}".encode())
    compiled, checked = _both_checks(raw)
    assert compiled is None or compiled == checked


def _both_checks(raw: msgspec.Raw) -> tuple[Any, Any]:
    """What the compiled check and the checks in Python make of one element (None:
    not taken)."""
    text = str(raw, "utf-8")
    try:
        checked = _check_event(STORE, msgspec.json.decode(raw), text, event_hash(text), RECEIVED_AT)
    except _Refused:
        checked = None
    return _compiled_event(STORE, event_source(STORE, ""), raw, RECEIVED_AT), checked


def _draw_data(data: st.DataObject, key: tuple[str, int], valid: bool) -> bytes:
    value = data.draw(_model_values(EVENT_SCHEMAS[key], valid=valid))
    return json.dumps(value, ensure_ascii=False).encode()


def _compiled_takes(key: tuple[str, int], payload: bytes) -> bool:
    decoder = data_decoder(*key)
    assert decoder is not None
    try:
        decoder.decode(payload)
    except msgspec.DecodeError:
        return False
    return True


def _element(payload: bytes) -> msgspec.Raw:
    (raw,) = msgspec.json.decode(b"[" + payload + b"]", type=list[msgspec.Raw])
    return raw


@st.composite
def _envelopes(draw: Any, key: tuple[str, int]) -> tuple[dict[str, Any], bool]:
    event_type, version = key
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": draw(st.uuids()).hex,
        "source": f"/stores/{STORE}/devices/till-1",
        "type": event_type,
        "time": draw(_times(valid=True)),
        "sequence": str(draw(st.integers(1, 2**63 - 1))),
        "dataschema": f"urn:edge-agent:schema:{event_type}:{version}",
        "data": draw(_model_values(EVENT_SCHEMAS[key], valid=True)),
    }
    if draw(st.booleans()):
        event[CHAIN_ATTRIBUTE] = draw(st.binary(min_size=32, max_size=32)).hex()
    if draw(st.booleans()):
        event["datacontenttype"] = "application/json"
    if not draw(st.booleans()):
        return event, True
    variants: dict[str, Any] = {
        "specversion": st.sampled_from(["1.0", "1.1", "0.3", 1.0, None]),
        "id": st.one_of(st.text(TEXT, max_size=66), JUNK),
        "source": st.sampled_from(
            [
                f"/stores/{STORE}/devices/",
                f"/stores/{STORE}/devices/t/x",
                "/stores/other/devices/t",
                f"/stores/{STORE}",
                f"/stores/{STORE}-b/devices/t",
                f"/STORES/{STORE}/devices/t",
            ]
        )
        | JUNK,
        "type": st.sampled_from([t for t, _ in EVENT_SCHEMAS]) | JUNK,
        "time": _times(valid=False),
        "sequence": st.sampled_from(
            ["0", "-1", " 7", "1_0", "7.0", "\u0663", str(2**63), str(2**63 - 1), "", "0x1"]
        )
        | st.sampled_from([1, 7, 0, -1, 2**63, 2**64, 3.0, 3.5, True, False])
        | JUNK,
        "dataschema": st.sampled_from(
            [
                f"urn:edge-agent:schema:{event_type}:{version + 1}",
                f"urn:edge-agent:schema:{event_type}:0{version}",
                f"urn:edge-agent:schema:{event_type}",
                "urn:edge-agent:schema:scan.recorded:1",
                "urn:edge-agent:schema:customer.identified:1",
            ]
        )
        | JUNK,
        CHAIN_ATTRIBUTE: st.one_of(
            st.binary(min_size=32, max_size=32).map(lambda b: b.hex().upper()),
            st.binary(min_size=31, max_size=33).map(bytes.hex),
            JUNK,
        ),
        "data": _model_values(EVENT_SCHEMAS[key], valid=False) | JUNK,
    }
    for name in draw(st.sets(st.sampled_from(sorted(variants)), min_size=1, max_size=3)):
        if draw(st.integers(0, 4)) == 0:
            event.pop(name, None)
        else:
            event[name] = draw(variants[name])
    return event, False


def _times(valid: bool) -> st.SearchStrategy[Any]:
    offsets = st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=14))])
    agent_form = st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
    ).map(lambda moment: moment.isoformat(timespec="microseconds").replace("+00:00", "Z"))
    if valid:
        return agent_form
    return agent_form | st.sampled_from(TIMES) | st.text(TEXT, max_size=30) | JUNK


def _model_values(model: type[BaseModel], valid: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts for `model`: valid ones in the forms the agent writes; or, with valid
    False, a valid one with one or two things changed: a field at or past its
    constraints or of another type, a field missing, an unknown key, a field's name
    where it has an alias. One change at a time, so that one loose check shows."""

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for name, info in model.model_fields.items():
            if info.is_required() or draw(st.booleans()):
                value[info.alias or name] = draw(_values(info.annotation, info.metadata, True))
        if valid:
            return value
        fields = list(model.model_fields.items())
        for _ in range(draw(st.integers(1, 2))):
            name, info = draw(st.sampled_from(fields))
            wire = info.alias or name
            change = draw(st.sampled_from(["value", "value", "value", "drop", "unknown", "name"]))
            if change == "value":
                value[wire] = draw(_values(info.annotation, info.metadata, False))
            elif change == "drop":
                value.pop(wire, None)
            elif change == "unknown":
                value[draw(st.text(max_size=8))] = draw(JUNK)
            elif info.alias and wire in value:
                value[name] = value.pop(wire)
        return value

    return build()


def _values(annotation: Any, metadata: list[Any], valid: bool) -> st.SearchStrategy[Any]:
    bounds = {type(c): c for c in metadata}
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in get_args(annotation) if a is not type(None)]
        return st.none() | _values(inner, metadata, valid)
    if origin is Literal:
        members = st.sampled_from(get_args(annotation))
        if valid:
            return members
        return members | members.map(str.upper) | members.map(lambda m: m + " ") | JUNK
    if origin is tuple:
        (element, _) = get_args(annotation)
        least = bounds[annotated_types.MinLen].min_length if annotated_types.MinLen in bounds else 0
        lists = st.lists(_values(element, [], valid), min_size=least, max_size=least + 2)
        if valid:
            return lists
        return lists | st.lists(_values(element, [], True), max_size=least) | JUNK
    if annotation is str:
        least = getattr(bounds.get(annotated_types.MinLen), "min_length", 0)
        most = getattr(bounds.get(annotated_types.MaxLen), "max_length", 80)
        fits = st.text(TEXT, min_size=least, max_size=most)
        if valid:
            return fits
        past = [n for n in (least - 1, most + 1) if 0 <= n < least or n > most]
        return _past_or(
            st.sampled_from(past).flatmap(lambda n: st.text(TEXT, min_size=n, max_size=n)),
            fits, st.sampled_from([least, most]).flatmap(
                lambda n: st.text(TEXT, min_size=n, max_size=n)
            ), JUNK,
        )  # fmt: skip
    if annotation is int:
        low = getattr(bounds.get(annotated_types.Ge), "ge", -(2**40))
        high = getattr(bounds.get(annotated_types.Le), "le", 2**40)
        fits = st.integers(low, high)
        if valid:
            return fits
        past = [
            n
            for n, bound in ((low - 1, annotated_types.Ge), (high + 1, annotated_types.Le))
            if bound in bounds
        ] or [2**64, -(2**63) - 1]
        return _past_or(
            st.sampled_from(past), fits, st.sampled_from([low, high, 2**63 - 1, 2**64]),
            st.sampled_from([float(low), float(low) + 0.5, True, False, str(low)]), JUNK,
        )  # fmt: skip
    if annotation is bool:
        return st.booleans() if valid else st.booleans() | st.sampled_from([0, 1, "true"]) | JUNK
    if annotation is datetime:
        return _times(valid)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_values(annotation, valid)
    raise AssertionError(f"no values for {annotation}: teach this test the new field type")


def _past_or(
    past: st.SearchStrategy[Any], *others: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Half the time a value just past a constraint, else one of `others`."""
    return st.one_of(past, st.sampled_from(others).flatmap(lambda strategy: strategy))


def test_a_batch_mixing_compiled_pydantic_only_and_refused_events_reads_as_before(centre):
    """One batch: an event the compiled check takes, one only pydantic reads (a date
    without a time), one the schema refuses. The first two are stored, the third is
    refused with pydantic's reason, as before there was a compiled check."""
    (batch,) = make_store("s1", 3).batches
    texts = [text for _, text in split_batch(batch.payload.decode())]
    date_only = texts[1].replace('"scanned_at": "2026-11-24T08:00:00.000000Z"',
                                 '"scanned_at": "2026-11-24"')  # fmt: skip
    empty_kind = texts[2].replace('"kind": "gtin"', '"kind": ""')
    assert date_only != texts[1] and empty_kind != texts[2]
    payload = ("[" + ", ".join([texts[0], date_only, empty_kind]) + "]").encode()

    result = ingest_batch(centre, "retail/v1", [("retail/v1/stores/s1/events", payload)])

    assert (result.inserted, result.rejected) == (2, 1)
    stored = {row[0] for row in centre.execute("SELECT envelope FROM events").fetchall()}
    assert stored == {texts[0], date_only}
    (reason,) = centre.execute("SELECT reason FROM rejected_events").fetchone()
    assert reason.startswith("scan.recorded v1: kind:")
