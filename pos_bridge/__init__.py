"""Every screen and caller on the shop floor: the till API, kiosk and console (Flask)."""
