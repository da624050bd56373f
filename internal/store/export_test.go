package store

// MigrationSQL is migration v, for tests that build an old schema.
func MigrationSQL(v int) string { return migrations[v] }
