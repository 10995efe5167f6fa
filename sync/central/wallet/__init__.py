"""The centre's wallet service: passes issued, kept, re-issued and pushed here; loyalty
balances and conflicts counted from every store's events (see README, Wallet passes)."""
