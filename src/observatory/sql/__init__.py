"""The SQL of the per-request database as pure text: columns, schema, rollups, prices and queries.

Nothing here connects to a database, reads the clock or the environment: `observatory.render` writes
these texts out as migration files, and `observatory.storage` and `observatory.ingest` execute them.
"""
