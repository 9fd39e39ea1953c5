"""Per-request storage: the table's columns, migrations, maintenance (partitions, rollups, retention)."""
