"""A test client that behaves like a browser on the kiosk and console screens."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from pos_bridge.csrf import CSRF_FIELD


class ScreenClient(FlaskClient):
    """A browser on the screens: its forms carry the CSRF token of the page they came
    from (it opens the page first if it has not yet)."""

    def open(self, *args, **kwargs):  # type: ignore[override]
        data = kwargs.get("data") or {}
        if kwargs.get("method") == "POST" and isinstance(data, dict) and CSRF_FIELD not in data:
            path = args[0] if args and isinstance(args[0], str) else ""
            kwargs["data"] = {**data, CSRF_FIELD: self.form_token(path)}
        return super().open(*args, **kwargs)

    def form_token(self, path: str) -> str:
        page = "/console/sign-in" if path.startswith("/console") else "/kiosk/"
        with self.session_transaction() as session:
            token = session.get("csrf")
        if token is None:
            html = self.get(page).get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        return token
