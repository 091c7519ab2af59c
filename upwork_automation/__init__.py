"""upwork_automation: an Upwork pipeline run as background work on a PostgreSQL-backed RQ queue."""
