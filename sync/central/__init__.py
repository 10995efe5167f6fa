"""`edge-central`: the reference ingest service at the centre (events in, acks, change
feed out, fleet status). PostgreSQL given a URL, SQLite by default."""
