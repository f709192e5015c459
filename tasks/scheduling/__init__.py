"""Scheduling: which worker gets which microtask, for how long, and how an answer becomes durable.

PostgreSQL is the truth: an Assignment row is a lease, an Answer row an accepted answer, and the constraints on
those tables make double work impossible. Redis holds the hot state that makes a lease cheap to pick: per job,
a window of open microtasks ordered by (rank, index) with their free slots, and per microtask the workers who
have seen it. Redis may be flushed at any moment: every structure there is rebuilt from PostgreSQL.

- ``keys``: key names, scores, the control channel.
- ``pool``: the Redis pool (Lua pick / return), filled and rebuilt from PostgreSQL.
- ``store``: the group committer that batches leases and submits across sockets; ``commit.sql``: their SQL,
  run server-side as one PL/pgSQL call per batch.
- ``leases``: lease expiry, the reconnect grace period, resuming leases: plain functions for Celery beat and
  the runtime. ``pace``: measured pace for the cost model. ``progress``: live job counts.
- ``runtime``: the per-process scheduler the WebSocket consumer talks to.
"""
