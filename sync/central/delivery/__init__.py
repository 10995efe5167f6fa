"""Delivery of store events to the retailer's platforms: CloudEvents over HTTP, signed
the Standard Webhooks way, at least once, in store-sequence order per device."""
