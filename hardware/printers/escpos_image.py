"""Draw ESC/POS bytes as the printer would put them on paper, for `preview://`.

It reads the same bytes a real printer gets, so the PNG shows what would print
(code page decoding included), not a second rendering of the receipt. It understands
the commands our receipts use; any other command is skipped, and counted.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

MONO_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
MONO_BOLD_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf")
MARGIN_PX = 8
ESC, GS, LF = 0x1B, 0x1D, 0x0A


@dataclass
class _State:
    bold: bool = False
    align: int = 0  # 0 left, 1 centre, 2 right
    width: int = 1
    height: int = 1
    encoding: str = "cp437"
    qr_data: bytes = b""
    qr_size: int = 3


@dataclass
class _Line:
    runs: list[tuple[str, bool, int, int]] = field(default_factory=list)  # text, bold, w, h
    align: int = 0


@dataclass(frozen=True)
class PreviewResult:
    lines: tuple[str, ...]  # the text as printed, line by line (what the PNG shows)
    qr_codes: tuple[str, ...]
    skipped_commands: int


def render_png(data: bytes, width_px: int, code_pages: dict[int, str], path: Path) -> PreviewResult:
    """Write a PNG of `data` printed on paper `width_px` wide."""
    canvas = _Canvas(width_px)
    state = _State()
    line = _Line()
    skipped = 0
    text = bytearray()

    def flush_text() -> None:
        if text:
            line.runs.append(
                (
                    codecs.decode(bytes(text), state.encoding, "replace"),
                    state.bold,
                    state.width,
                    state.height,
                )
            )
            text.clear()

    def end_line() -> None:
        nonlocal line
        flush_text()
        line.align = state.align
        canvas.text_line(line)
        line = _Line()

    i = 0
    while i < len(data):
        byte = data[i]
        if byte == LF:
            end_line()
            i += 1
        elif byte == ESC and i + 1 < len(data):
            flush_text()
            command, arg = data[i + 1], data[i + 2] if i + 2 < len(data) else 0
            if command == ord("@"):
                state = _State()
                i += 2
                continue
            if command == ord("E"):
                state.bold = bool(arg & 1)
            elif command == ord("a"):
                state.align = arg % 3 if arg < 3 else (arg - ord("0")) % 3
            elif command == ord("t"):
                state.encoding = _codec(code_pages.get(arg, "CP437"))
            elif command == ord("!"):
                state.bold = bool(arg & 0x08)
                state.height = 2 if arg & 0x10 else 1
                state.width = 2 if arg & 0x20 else 1
            elif command == ord("d"):
                for _ in range(arg):
                    end_line()
            elif command not in b"-MJ3{G":
                skipped += 1
            i += 3
        elif byte == GS and i + 1 < len(data):
            flush_text()
            command = data[i + 1]
            if command == ord("!") and i + 2 < len(data):
                state.width = (data[i + 2] >> 4) + 1
                state.height = (data[i + 2] & 0x0F) + 1
                i += 3
            elif command == ord("V"):
                end_line()
                canvas.cut()
                i += 3 if i + 2 < len(data) and data[i + 2] in (0, 1, 48, 49) else 4
            elif command == ord("(") and i + 4 < len(data) and data[i + 2] == ord("k"):
                size = data[i + 3] | data[i + 4] << 8
                body = data[i + 5 : i + 5 + size]
                _qr_command(state, body, canvas)
                i += 5 + size
            else:
                skipped += 1
                i += 3
        elif byte < 0x20:
            i += 1  # other control bytes move nothing on paper
        else:
            text.append(byte)
            i += 1
    if text or line.runs:
        end_line()
    canvas.save(path)
    return PreviewResult(tuple(canvas.lines), tuple(canvas.qr_codes), skipped)


def _qr_command(state: _State, body: bytes, canvas: _Canvas) -> None:
    if len(body) < 3 or body[0] != ord("1"):
        return
    function = body[1]
    if function == ord("C"):
        state.qr_size = body[2]
    elif function == ord("P"):
        state.qr_data = body[3:]
    elif function == ord("Q"):
        canvas.qr(state.qr_data.decode("latin-1"), state.qr_size, state.align)


def _codec(name: str) -> str:
    candidate = name.lower().replace("iso_", "iso").replace("-", "_")
    try:
        codecs.lookup(candidate)
    except LookupError:
        return "cp437"
    return candidate


class _Canvas:
    def __init__(self, width_px: int) -> None:
        self.width = width_px
        self.blocks: list[Image.Image] = []
        self.lines: list[str] = []
        self.qr_codes: list[str] = []
        # Font A on an 80 mm printer is 42 columns across 512 dots: ~12 px a character.
        self.cell = 12
        self._fonts: dict[tuple[bool, int], ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}

    def text_line(self, line: _Line) -> None:
        self.lines.append("".join(text for text, *_ in line.runs))
        height = max((h for *_, h in line.runs), default=1) * 24
        block = Image.new("L", (self.width, height), 255)
        draw = ImageDraw.Draw(block)
        total = sum(len(t) * w * self.cell for t, _, w, _ in line.runs)
        # The print head's dots span the paper's printable width: no side margin.
        x = 0
        if line.align == 1:
            x = max((self.width - total) // 2, 0)
        elif line.align == 2:
            x = max(self.width - total, 0)
        for text, bold, w, h in line.runs:
            font = self._font(bold, h)
            for char in text:
                draw.text((x, height - 22 * h), char, fill=0, font=font)
                x += w * self.cell
        self.blocks.append(block)

    def qr(self, content: str, module_px: int, align: int) -> None:
        self.qr_codes.append(content)
        code = qrcode.QRCode(box_size=max(module_px, 1) * 2, border=2)
        code.add_data(content)
        image = code.make_image().get_image().convert("L")
        block = Image.new("L", (self.width, image.height), 255)
        x = {0: 0, 1: (self.width - image.width) // 2}.get(align, self.width - image.width)
        block.paste(image, (max(x, 0), 0))
        self.blocks.append(block)

    def cut(self) -> None:
        block = Image.new("L", (self.width, 12), 255)
        draw = ImageDraw.Draw(block)
        for x in range(0, self.width, 12):
            draw.line((x, 6, x + 6, 6), fill=0)
        self.blocks.append(block)

    def save(self, path: Path) -> None:
        height = sum(b.height for b in self.blocks) + 2 * MARGIN_PX
        paper = Image.new("L", (self.width, max(height, 1)), 255)
        y = MARGIN_PX
        for block in self.blocks:
            paper.paste(block, (0, y))
            y += block.height
        paper.save(path, format="PNG")

    def _font(self, bold: bool, scale: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        key = (bold, scale)
        if key not in self._fonts:
            path = MONO_BOLD_FONT if bold else MONO_FONT
            size = 20 * scale
            self._fonts[key] = (
                ImageFont.truetype(str(path), size)
                if path.exists()
                else ImageFont.load_default(size)
            )
        return self._fonts[key]
