package history

import "context"

// OneConnection makes s use a single database connection, so that a test
// can read the settings a Bulk's connection goes back to the pool with.
func OneConnection(s *Store) { s.db.SetMaxOpenConns(1) }

// ConnSettings reads the connection settings a Bulk changes while it runs.
func ConnSettings(s *Store) (autoCheckpoint, tempStore int, err error) {
	ctx := context.Background()
	if err := s.db.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&autoCheckpoint); err != nil {
		return 0, 0, err
	}
	err = s.db.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&tempStore)
	return autoCheckpoint, tempStore, err
}
