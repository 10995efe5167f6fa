"""Each device's hash chain, verified as its events arrive at the centre."""

from __future__ import annotations

# The centre's own event, delivered like a store event, when a device's history does
# not hold together.
ALARM_TYPE = "device.integrity_alarm"
