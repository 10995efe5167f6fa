"""Default pass images, drawn when the retailer supplies none.

Apple requires icon.png (lock screen, notifications) and shows logo.png top left; each
at 1x and 2x. The defaults are the store's initials on its brand colour, so a new store
gets a tidy pass without a designer.
"""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageDraw, ImageFont

# Apple's sizes in points; @2x doubles them.
ICON_SIZE = (29, 29)
LOGO_SIZE = (160, 50)


def default_images(initials: str, background: tuple[int, int, int]) -> dict[str, bytes]:
    """{file name: PNG bytes} for icon and logo at 1x and 2x."""
    return dict(_drawn(initials, background))


# Every pass of a store gets the same defaults; drawing them costs more than signing.
@functools.lru_cache(maxsize=16)
def _drawn(initials: str, background: tuple[int, int, int]) -> tuple[tuple[str, bytes], ...]:
    text = (initials.strip() or "?")[:3].upper()
    images: dict[str, bytes] = {}
    for scale, suffix in ((1, ""), (2, "@2x")):
        images[f"icon{suffix}.png"] = _draw(_scaled(ICON_SIZE, scale), text, background, True)
        images[f"logo{suffix}.png"] = _draw(_scaled(LOGO_SIZE, scale), text, background, False)
    return tuple(images.items())


def _scaled(size: tuple[int, int], scale: int) -> tuple[int, int]:
    return size[0] * scale, size[1] * scale


def _draw(size: tuple[int, int], text: str, colour: tuple[int, int, int], filled: bool) -> bytes:
    width, height = size
    # The logo sits on the pass's own background, so it is transparent around the text.
    image = Image.new("RGBA", size, (*colour, 255) if filled else (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(8, int(height * 0.55)))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    position = ((width - (right - left)) / 2 - left, (height - (bottom - top)) / 2 - top)
    draw.text(position, text, font=font, fill=(255, 255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
