"""The classifier: GS1 element strings via biip, pass codes, card data, and (hypothesis)
no text at all makes it raise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.barcodes import CARD_DATA_REASON, BarcodeRules, classify
from hardware.cardguard import looks_like_card_data, luhn_valid
from hardware.symbology import split_symbology

RULES = BarcodeRules(loyalty_id=r"^29\d{11}$", order_number=r"^W\d{9}$")


@pytest.mark.parametrize(
    ("data", "symbology", "gtin", "elements"),
    [
        # GS1-128 with AIM identifier: GTIN, best before, batch
        (
            "]C1010703206980498815210526100329",
            None,
            "7032069804988",
            (("01", "07032069804988"), ("15", "210526"), ("10", "0329")),
        ),
        # GS1 DataMatrix, identifier given separately, FNC1 as GS between fields
        (
            "0104006381333931\x1d10LOT-7\x1d17271231",
            "]d2",
            "4006381333931",
            (("01", "04006381333931"), ("10", "LOT-7"), ("17", "271231")),
        ),
        # GS1 QR
        ("01040063813339313103000750", "]Q3", "4006381333931", None),
        # human-readable form typed by a person
        ("(01)04006381333931(21)SER42", None, "4006381333931", None),
    ],
)
def test_gs1_element_strings(data: str, symbology, gtin: str, elements) -> None:  # type: ignore[no-untyped-def]
    barcode = classify(data, RULES, symbology)
    assert barcode.kind == "gs1"
    assert barcode.value == gtin
    if elements is not None:
        assert barcode.elements == elements
    assert barcode.elements[0][0] == "01"


def test_gs1_with_bad_gtin_check_digit_refused() -> None:
    barcode = classify("]C10104006381333932", RULES)
    assert barcode.kind == "invalid" and "check digit" in (barcode.reason or "")


def test_gs1_garbage_refused_with_reason() -> None:
    barcode = classify("(01)123", RULES)
    assert barcode.kind == "invalid" and "GS1" in (barcode.reason or "")


@pytest.mark.parametrize(
    "code", ["EP1:MFRGGZDFMZTWQ2LK", "EP0:A", "EP9:ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"]
)
def test_pass_codes_recognised(code: str) -> None:
    assert classify(code, RULES) == classify(code, RULES).__class__("pass_code", code)


@pytest.mark.parametrize("code", ["EP1:abc", "EP1:AB1", "EP1:AB==", "EPX:ABC", "EP12:ABC", "EP1:"])
def test_not_pass_codes(code: str) -> None:
    assert classify(code, RULES).kind != "pass_code"


def test_pass_code_pattern_is_configurable() -> None:
    rules = BarcodeRules(RULES.loyalty_id, RULES.order_number, pass_code=r"^PASS-\d+$")
    assert classify("PASS-42", rules).kind == "pass_code"
    assert classify("EP1:ABC", rules).kind != "pass_code"


@pytest.mark.parametrize(
    "data",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "5555-5555-5555-4444",
        "378282246310005",
        "6011111111111117",
        "%B4111111111111111^DOE/JOHN^25121010000000000?",
        ";4111111111111111=25121010000000000?",
        "2223003122003222",
    ],
)
def test_card_data_refused_without_echoing_it(data: str) -> None:
    barcode = classify(data, RULES)
    assert barcode.kind == "invalid"
    assert barcode.reason == CARD_DATA_REASON
    assert barcode.value == ""


@pytest.mark.parametrize(
    "data",
    [
        "4006381333931",  # a German EAN-13 (valid GTIN): a product, not a card
        "2900000000017",  # loyalty range 29: no payment issuer uses it
        "4111111111111112",  # Luhn fails
        "411111111111",  # 12 digits: too short for a card
    ],
)
def test_not_card_data(data: str) -> None:
    assert not looks_like_card_data(data)


def test_product_symbology_is_never_card_data() -> None:
    # 13 digits, Luhn-valid, issuer prefix 4, wrong GS1 check digit: card-like,
    # unless an EAN/UPC symbology read it (a printed barcode is not a card)
    assert looks_like_card_data("4000000000014")
    assert not looks_like_card_data("4000000000014", "]E0")
    # 16 digits are never a product code, whatever symbology a caller claims
    assert looks_like_card_data("4000056655665556", "]E0")


def test_symbology_split() -> None:
    assert split_symbology("]E04006381333931") == ("]E0", "4006381333931")
    assert split_symbology("]") == (None, "]")
    assert split_symbology("W000000123") == (None, "W000000123")


def test_classify_uses_symbology_in_data_when_none_given() -> None:
    assert classify("]E04006381333931", RULES).value == "4006381333931"


@settings(max_examples=400, deadline=None)
@given(
    st.text(max_size=300),
    st.one_of(st.none(), st.sampled_from(["]C1", "]d2", "]Q3", "]E0", "]X9"])),
)
def test_arbitrary_text_never_raises(data: str, symbology: str | None) -> None:
    barcode = classify(data, RULES, symbology)
    assert barcode.kind in ("loyalty_id", "order_number", "gtin", "gs1", "pass_code", "invalid")
    assert (barcode.reason is not None) == (barcode.kind == "invalid")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decoded_as_a_scanner_would_never_raise(raw: bytes) -> None:
    barcode = classify(raw.decode("utf-8", errors="replace"), RULES)
    assert barcode.kind in ("loyalty_id", "order_number", "gtin", "gs1", "pass_code", "invalid")


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"\A(\]C1)?01[0-9]{14}(\x1d?10[A-Z0-9]{1,20})?\Z"))
def test_gs1_shaped_input_never_raises(data: str) -> None:
    assert classify(data, RULES).kind in ("gs1", "invalid")


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
    barcode = classify(pan, RULES, symbology)
    assert barcode.reason == CARD_DATA_REASON
    assert pan not in repr(barcode)
