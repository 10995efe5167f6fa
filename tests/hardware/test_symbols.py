"""Symbols as hardware reads them: GS1 element strings and GTINs via biip, AIM symbology
identifiers, the card-data guard and the checks every `Scan` gets once, where it is made;
(hypothesis) no text at all makes them raise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.cardguard import CARD_DATA_REASON, looks_like_card_data
from hardware.gs1 import ProductCode, UnreadableProductCode, read_product_code
from hardware.scan import MAX_SCAN_CHARS, Scan
from hardware.symbology import split_symbology

AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def scan(data: str, symbology: str | None = None) -> Scan:
    return Scan(data, symbology, "lane-1", AT)


def product(data: str, symbology: str | None = None) -> ProductCode | None:
    read = scan(data, symbology)
    return read_product_code(read.data, read.symbology)


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
    code = product(data, symbology)
    assert code is not None and code.kind == "gs1"
    assert code.gtin == gtin
    if elements is not None:
        assert code.elements == elements
    assert code.elements[0][0] == "01"


@pytest.mark.parametrize(
    ("data", "gtin"),
    [("8412345678905", "8412345678905"), ("12345670", "0000012345670")],
)
def test_gtins_are_keyed_as_gtin_13(data: str, gtin: str) -> None:
    assert product(data) == ProductCode("gtin", gtin)


def test_gs1_with_bad_gtin_check_digit_refused() -> None:
    with pytest.raises(UnreadableProductCode, match="check digit"):
        product("]C10104006381333932")


def test_gs1_garbage_refused_with_reason() -> None:
    with pytest.raises(UnreadableProductCode, match="GS1"):
        product("(01)123")


@pytest.mark.parametrize("data", ["W100000001", "EP1:ABC", "HELLO-WORLD", "123456789"])
def test_what_is_not_shaped_like_a_product_code_is_left_to_the_agent(data: str) -> None:
    assert product(data) is None


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
def test_card_data_scan_keeps_no_data(data: str) -> None:
    read = scan(data)
    assert read.unreadable == "card_data"
    assert read.reason == CARD_DATA_REASON
    assert read.data == ""
    assert "4111" not in repr(read) and data not in repr(read)


@pytest.mark.parametrize(
    ("data", "unreadable"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("]E0", "empty"),
        ("abc\x00def", "garbled"),
        ("caf\ufffd", "garbled"),
        ("9" * (MAX_SCAN_CHARS + 1), "too_long"),
        # a swipe inside an over-long read is still card data (and counted as such)
        ("x" * MAX_SCAN_CHARS + "%B4111111111111111^DOE/JOHN^", "card_data"),
    ],
)
def test_unreadable_scans_keep_no_data(data: str, unreadable: str) -> None:
    read = scan(data)
    assert (read.unreadable, read.data) == (unreadable, "")
    assert read.reason


def test_gs1_group_separator_is_not_garbage() -> None:
    read = scan("0104006381333931\x1d1042", "]C1")
    assert read.unreadable is None and read.data == "0104006381333931\x1d1042"


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
    assert scan(data).data == data


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


def test_scan_splits_the_symbology_in_data_when_none_given() -> None:
    read = scan(" ]E04006381333931\r")
    assert (read.symbology, read.data) == ("]E0", "4006381333931")
    given_one = scan("]E04006381333931", "]E4")  # the sender said which: data is kept whole
    assert (given_one.symbology, given_one.data) == ("]E4", "]E04006381333931")


@settings(max_examples=400, deadline=None)
@given(
    st.text(max_size=300),
    st.one_of(st.none(), st.sampled_from(["]C1", "]d2", "]Q3", "]E0", "]X9"])),
)
def test_arbitrary_text_never_raises(data: str, symbology: str | None) -> None:
    read = scan(data, symbology)
    assert (read.unreadable is None) == bool(read.data)
    try:
        code = read_product_code(read.data, read.symbology)
    except UnreadableProductCode as exc:
        assert str(exc)
    else:
        assert code is None or code.kind in ("gtin", "gs1")


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"\A(\]C1)?01[0-9]{14}(\x1d?10[A-Z0-9]{1,20})?\Z"))
def test_gs1_shaped_input_never_raises(data: str) -> None:
    try:
        code = product(data)
    except UnreadableProductCode as exc:
        assert str(exc)
    else:
        assert code is None or code.kind == "gs1"
