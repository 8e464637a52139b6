"""The database: tables, migrations, connections by URL and the versioned event store."""
