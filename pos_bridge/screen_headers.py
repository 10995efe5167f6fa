"""Response headers every screen (kiosk, console) sends."""

from __future__ import annotations

from flask import Response

# Screens show personal data: never cached (the back button after a kiosk timeout must not
# bring the last customer back), never framed, and only our own scripts and styles.
SCREEN_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on our own
    # forms, and the CSRF guard could not tell them from a sandboxed attacker's page.
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
}


def add_screen_headers(response: Response) -> Response:
    response.headers.update(SCREEN_HEADERS)
    return response
