import pytest

from hardware.barcodes import BarcodeRules, classify

RULES = BarcodeRules(loyalty_id=r"^29\d{11}$", order_number=r"^W\d{9}$")


@pytest.mark.parametrize(
    ("data", "kind", "value"),
    [
        ("2900000000017", "loyalty_id", "2900000000017"),
        ("w100000001", "order_number", "W100000001"),
        ("8412345678905", "gtin", "8412345678905"),
        ("12345670", "gtin", "0000012345670"),
        (" 8412345678905\r", "gtin", "8412345678905"),
    ],
)
def test_known_codes_are_classified(data, kind, value):
    barcode = classify(data, RULES)
    assert (barcode.kind, barcode.value) == (kind, value)


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
    ],
)
def test_bad_scans_are_refused_with_a_reason(data, reason):
    barcode = classify(data, RULES)
    assert barcode.kind == "invalid"
    assert reason in (barcode.reason or "")
