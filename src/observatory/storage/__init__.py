"""The per-request database at run time: migrations applied, and maintenance (partitions, rollups).

The SQL text it runs is `observatory.sql`'s; this package holds only what talks to a database.
"""
