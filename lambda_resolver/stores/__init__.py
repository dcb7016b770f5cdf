"""Store implementations: SQLite (the embedded default) and DynamoDB (production)."""
