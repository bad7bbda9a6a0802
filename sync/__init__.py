"""End-to-end encrypted, offline-first sync of the store to an S3 bucket (see docs/sync-format.md).

Modules, one job each: hlc (clocks), envelope (bundle crypto and format), records (which tables
and columns travel), capture (local changes -> merge state), merge (remote changes -> store),
transport (S3 with create-only writes and backoff), enrolment (the clinic key), engine (push,
pull, snapshots), platform_events (the PHI-free summary for the clinic's EventBridge bus).
"""
