"""Receipt layouts: the bytes a printer gets (code page, bold, QR, cut, text) and the
preview PNG made from those same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from hardware.printers import open_printer
from hardware.receipts import render_receipt
from hardware.receipts.writer import ReceiptWriter
from tests.hardware.receipts_data import ALL, COUPON, PICKUP, RETURN

ESC_INIT = b"\x1b@"
SELECT_CP858 = b"\x1bt\x13"  # ESC t 19: CP858 on Epson TM profiles
SELECT_CP1252 = b"\x1bt\x10"  # ESC t 16: CP1252 on ZJ-5870
BOLD_ON, BOLD_OFF = b"\x1bE\x01", b"\x1bE\x00"
CUT = b"\x1dV\x00"


def qr_payload(data: bytes) -> bytes:
    """The text stored by the native QR command (GS ( k ... 1 P 0 <data>)."""
    start = data.index(b"\x1d(k")
    store = data.index(b"1P0", start)
    length = data[store - 2] | data[store - 1] << 8
    return data[store + 3 : store + length]


def test_return_receipt_bytes_carry_init_code_page_bold_qr_cut_and_text() -> None:
    data = render_receipt(RETURN, "TM-T88V", 80)
    assert data.startswith(ESC_INIT + SELECT_CP858)
    assert BOLD_ON in data and BOLD_OFF in data
    assert qr_payload(data) == b"R-000123"
    assert b"\x1d(k\x03\x001Q0" in data  # print the stored QR natively
    assert data.endswith(CUT)
    assert "Tienda Málaga".encode("cp858") in data
    assert "Müsli Straße".encode("cp858") in data
    assert "24,95\xa0€".encode("cp858") in data


@pytest.mark.parametrize("word", ["é", "ñ", "ü", "ß", "€"])
def test_each_special_character_is_its_code_page_byte(word: str) -> None:
    receipt = COUPON.__class__(COUPON.store, f"x{word}x", "-", "C1", COUPON.valid_until)
    epson = render_receipt(receipt, "TM-T88V", 80)
    assert f"x{word}x".encode("cp858") in epson
    cheap = render_receipt(receipt, "ZJ-5870", 58)
    assert cheap.startswith(ESC_INIT + SELECT_CP1252)
    assert f"x{word}x".encode("cp1252") in cheap


@pytest.mark.parametrize("width", [58, 80])
@pytest.mark.parametrize("name", sorted(ALL))
def test_no_line_is_wider_than_the_paper(name: str, width: int) -> None:
    columns = ReceiptWriter("TM-T88V", width).columns
    data = render_receipt(ALL[name], "TM-T88V", width)
    text = _printable_text(data)
    assert max(len(line) for line in text.splitlines()) <= columns
    assert columns == (32 if width == 58 else 42)


def test_long_description_is_shortened_not_wrapped_into_the_price() -> None:
    text = _printable_text(render_receipt(RETURN, "TM-T88V", 58))
    line = next(line for line in text.splitlines() if "Camiseta" in line)
    assert line.endswith("19,95\xa0€") and len(line) == 32


def test_pickup_slip_shows_first_name_and_order_qr() -> None:
    data = render_receipt(PICKUP, "TM-T88V", 80)
    assert "José".encode("cp858") in data
    assert qr_payload(data) == b"W000000124"


@pytest.mark.parametrize("width", [58, 80])
@pytest.mark.parametrize("name", sorted(ALL))
def test_preview_png_of_each_layout_is_readable(tmp_path: Path, name: str, width: int) -> None:
    printer = open_printer("preview", f"preview://{tmp_path}", paper_width_mm=width)
    data = render_receipt(ALL[name], "TM-T88V", width)
    printer.send(data, label=name)
    png = tmp_path / f"{name}.png"
    with Image.open(png) as image:
        image.load()
        assert image.format == "PNG"
        assert image.width == {58: 384, 80: 512}[width]
        assert image.height > 200
        # ink on paper: some black, mostly white
        histogram = image.convert("L").histogram()
        assert histogram[0] > 0 and histogram[255] > sum(histogram) // 2
    assert (tmp_path / f"{name}.bin").read_bytes() == data


def test_preview_decodes_the_code_page_it_was_sent(tmp_path: Path) -> None:
    from hardware.printers.escpos_image import render_png

    data = render_receipt(RETURN, "TM-T88V", 80)
    result = render_png(data, 512, {19: "CP858", 0: "CP437"}, tmp_path / "r.png")
    assert "Tienda Málaga" in result.lines
    assert any(line.startswith("2 x Müsli Straße") for line in result.lines)
    assert any(line.endswith("24,95\xa0€") for line in result.lines)
    assert result.qr_codes == ("R-000123",)
    # Told the printer uses CP437 for ESC t 19, the same bytes come out wrong.
    wrong = render_png(data, 512, {19: "CP437"}, tmp_path / "w.png")
    assert not any(line.endswith("24,95\xa0€") for line in wrong.lines)


def _printable_text(data: bytes) -> str:
    """The text lines of an ESC/POS stream (commands removed), decoded as CP858."""
    out, i = bytearray(), 0
    qr_start = data.find(b"\x1d(k")
    data = data[:qr_start] + b"\n" if qr_start >= 0 else data
    while i < len(data):
        if data[i] == 0x1B:
            i += 2 if data[i + 1] == 0x40 else 3
        elif data[i] == 0x1D:
            i += 3
        else:
            out.append(data[i])
            i += 1
    return out.decode("cp858")
