"""The wire protocol store and centre both speak: one definition of each envelope,
schema, topic, ack, batch and look-up message. Imports nothing of the store or the
centre, so either side (and the retailer's own tools) can depend on it alone."""
