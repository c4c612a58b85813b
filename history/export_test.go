package history

import (
	"context"
	"database/sql"

	"github.com/ipfs/go-cid"
)

// StoredBase returns the block a stored block is a delta against (Undef
// when it is stored whole), for tests of the storage encoding.
func StoredBase(s *Store, c cid.Cid) (cid.Cid, error) {
	var base sql.NullInt64
	if err := s.db.QueryRowContext(context.Background(), `SELECT base FROM blocks WHERE cid = ?`, c.Bytes()).Scan(&base); err != nil || !base.Valid {
		return cid.Undef, err
	}
	return blockCID(s.db, base.Int64)
}
