"""The one classifier of what a scanned or typed string is, and the code formats it
knows, each defined once."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.codes import Code, CodeRules, classify_scan, classify_typed, return_slip_code
from hardware.cardguard import CARD_DATA_REASON, luhn_valid
from hardware.scan import Scan

RULES = CodeRules(loyalty_id_pattern=r"^29\d{11}$", order_number_pattern=r"^W\d{9}$")
ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edge_agent", "hardware", "pos_bridge", "sync", "wallet")
SCAN_KINDS = ("loyalty_id", "order_number", "gtin", "gs1", "pass_code", "return_request", "invalid")
CARD_DATA = [
    "4111111111111111",
    "4111 1111 1111 1111",
    "5555-5555-5555-4444",
    "378282246310005",
    "6011111111111117",
    "%B4111111111111111^DOE/JOHN^25121010000000000?",
    ";4111111111111111=25121010000000000?",
    "2223003122003222",
]


def classify(data: str, rules: CodeRules = RULES, symbology: str | None = None) -> Code:
    return classify_scan(Scan(data, symbology, "lane-1", datetime.now(UTC)), rules)


@pytest.mark.parametrize(
    ("data", "kind", "value"),
    [
        ("2900000000017", "loyalty_id", "2900000000017"),
        ("w100000001", "order_number", "W100000001"),
        ("8412345678905", "gtin", "8412345678905"),
        ("12345670", "gtin", "0000012345670"),
        (" 8412345678905\r", "gtin", "8412345678905"),
        ("]E04006381333931", "gtin", "4006381333931"),
        ("RR:" + "A" * 24, "return_request", "RR:" + "A" * 24),
    ],
)
def test_known_codes_are_classified(data, kind, value):
    code = classify(data)
    assert (code.kind, code.value) == (kind, value)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("8412345678906", "check digit is wrong"),
        ("", "empty scan"),
        ("   ", "empty scan"),
        ("abc\x00def", "garbled"),
        ("caf\ufffd", "garbled"),
        ("9" * 8000, "too long"),
        ("HELLO-WORLD", "not a barcode this till knows"),
        ("]C10104006381333932", "check digit"),
        ("(01)123", "GS1"),
        ("RR:short", "not a barcode this till knows"),
        ("RR:" + "a" * 65, "not a barcode this till knows"),
    ],
)
def test_bad_scans_are_refused_with_a_reason(data, reason):
    code = classify(data)
    assert code.kind == "invalid"
    assert reason in (code.reason or "")


def test_gs1_scan_names_its_product_and_elements() -> None:
    code = classify("0104006381333931\x1d10LOT-7\x1d17271231", symbology="]d2")
    assert (code.kind, code.value) == ("gs1", "4006381333931")
    assert code.elements == (("01", "04006381333931"), ("10", "LOT-7"), ("17", "271231"))


def test_gs1_framing_wins_over_the_stores_own_formats() -> None:
    # A GS1 symbology's data is an element string, even if it also fits a store pattern.
    assert classify("2900000000017", symbology="]C1").kind == "invalid"
    assert classify("2900000000017", symbology="]E0").kind == "loyalty_id"


@pytest.mark.parametrize(
    "code",
    ["EP1:MFRGGZDFMZTWQ2LK", "EP0:A", "EP9:ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "EP1:AB2Y/12345678"],
)
def test_pass_codes_recognised(code: str) -> None:
    assert classify(code) == Code("pass_code", code)


@pytest.mark.parametrize(
    "code", ["EP1:abc", "EP1:AB1", "EP1:AB==", "EPX:ABC", "EP12:ABC", "EP1:", "EP1:AB/12345"]
)
def test_not_pass_codes(code: str) -> None:
    assert classify(code).kind != "pass_code"


def test_pass_code_pattern_is_configurable() -> None:
    rules = CodeRules(RULES.loyalty_id_pattern, RULES.order_number_pattern, r"^PASS-\d+$")
    assert classify("PASS-42", rules).kind == "pass_code"
    assert classify("EP1:ABC", rules).kind != "pass_code"


def test_a_new_return_slip_is_classified_as_one() -> None:
    slip = return_slip_code("k3-_" * 6)
    assert classify(slip) == Code("return_request", slip)


@pytest.mark.parametrize("data", CARD_DATA)
def test_card_data_refused_without_echoing_it(data: str) -> None:
    code = classify(data)
    assert code.kind == "invalid"
    assert code.reason == CARD_DATA_REASON
    assert code.value == ""


@pytest.mark.parametrize(
    ("typed", "kind", "value"),
    [
        ("  lucía.núñez@example.ES ", "email", "lucía.núñez@example.ES"),
        ("2900 0000 0001 7", "loyalty_id", "2900000000017"),
        (" w100000001 ", "order_number", "W100000001"),
        ("+34 612 34 56 78", "phone", "+34 612 34 56 78"),
        ("8412345678905", "phone", "8412345678905"),  # typed digits are a phone, not a product
    ],
)
def test_typed_text_is_classified(typed: str, kind: str, value: str) -> None:
    assert classify_typed(typed, RULES) == Code(kind, value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "enter a loyalty number"),
        ("x" * 300, "too long"),
        ("hello there", "not a loyalty number"),
        ("EP1:MFRGGZDFMZTWQ2LK", "not a loyalty number"),
        *((card, CARD_DATA_REASON) for card in CARD_DATA),
    ],
)
def test_typed_text_refused_with_a_reason_and_no_echo(typed: str, reason: str) -> None:
    code = classify_typed(typed, RULES)
    assert (code.kind, code.value) == ("invalid", "")
    assert reason in (code.reason or "")
    if reason == CARD_DATA_REASON:
        assert "4111" not in repr(code)


@settings(max_examples=400, deadline=None)
@given(
    st.text(max_size=300),
    st.one_of(st.none(), st.sampled_from(["]C1", "]d2", "]Q3", "]E0", "]X9"])),
)
def test_arbitrary_text_never_raises(data: str, symbology: str | None) -> None:
    code = classify(data, symbology=symbology)
    assert code.kind in SCAN_KINDS
    assert (code.reason is not None) == (code.kind == "invalid")
    typed = classify_typed(data, RULES)
    assert (typed.reason is not None) == (typed.kind == "invalid")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decoded_as_a_scanner_would_never_raise(raw: bytes) -> None:
    code = classify(raw.decode("utf-8", errors="replace"))
    assert code.kind in SCAN_KINDS


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"\A(\]C1)?01[0-9]{14}(\x1d?10[A-Z0-9]{1,20})?\Z"))
def test_gs1_shaped_input_never_raises(data: str) -> None:
    assert classify(data).kind in ("gs1", "invalid")


def _with_luhn_digit(body: str) -> str:
    return next(body + str(d) for d in range(10) if luhn_valid(body + str(d)))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["4", "51", "55", "34", "37", "6011", "2221", "2720", "35"]),
    st.integers(min_value=15, max_value=19),
    st.randoms(use_true_random=False),
    st.sampled_from([None, "]E0", "]C0", "]Q1"]),
)
def test_long_card_numbers_are_always_refused(prefix, length, rng, symbology) -> None:  # type: ignore[no-untyped-def]
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    pan = _with_luhn_digit(body)
    code = classify(pan, symbology=symbology)
    assert code.reason == CARD_DATA_REASON
    assert pan not in repr(code)
    typed = classify_typed(pan, RULES)
    assert typed.reason == CARD_DATA_REASON
    assert pan not in repr(typed)


def _sources() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


@pytest.mark.parametrize(
    ("what", "pattern", "home"),
    [
        ("the return slip prefix", r"""["']RR:""", "edge_agent/codes.py"),
        ("the pass code's text form", r"EP[\[(\\]", "wallet/codes.py"),
        ("the configured loyalty pattern", r"loyalty\.id_pattern", "edge_agent/codes.py"),
        ("the configured order pattern", r"orders\.number_pattern", "edge_agent/codes.py"),
        ("a currency formatter", r"format_currency\(", "hardware/money.py"),
    ],
)
def test_each_format_is_defined_once(what: str, pattern: str, home: str) -> None:
    found = [path for path, text in _sources().items() if re.search(pattern, text)]
    assert found == [home], f"{what} should be written only in {home}"


def test_one_money_type() -> None:
    defined = [
        path
        for path, text in _sources().items()
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.ClassDef) and node.name == "Money"
    ]
    assert defined == ["hardware/money.py"]


def test_hardware_knows_symbols_not_the_stores_codes() -> None:
    # Receipts print an order number handed to them; no hardware module recognises one.
    words = re.compile(r"loyalty_id|pass_code|return_request|return_slip|id_pattern|number_pattern")
    knowing = [
        path
        for path, text in _sources().items()
        if path.startswith("hardware/") and words.search(text)
    ]
    assert knowing == []
