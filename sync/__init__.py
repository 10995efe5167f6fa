"""Moving data between the store and the centre over MQTT (events out, changes in)."""
