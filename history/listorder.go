package history

import (
	"database/sql"
	"errors"
	"fmt"
	"unicode"
)

// The page list's order is kept, not computed. A page's row holds its own
// CID, its current revision's CID and its title's TitleOrderKey (okey),
// and pages_order holds every column a list shows, in EachPage's order
// (key, title, CID): a list is one walk of that index's leaves. It
// streams from the first row, sorts nothing and reads no block nor page
// row. Sorting by the key computed per row, with each page's two CIDs
// looked up in blocks (random reads into the largest table), cost 0.8-1.1
// s at 100,000 pages; the index alone, with the rows looked up in the
// table, 0.4-0.5 s (a page read for nearly every row); the walk of the
// covering index, 0.16-0.2 s. The columns cost about 100 bytes a page and
// the index about 160; an edit rewrites its page's entry in place (one
// more page to the log), and only a new title moves it.
//
// The key depends on the Unicode tables unicode.ToLower uses: the store
// records the version its keys were made with (meta titlekeys), and a
// binary built with other tables makes them again when it opens the store.

const listOrderSchema = `
CREATE INDEX IF NOT EXISTS pages_order ON pages(okey, title, cid, revcid, deleted, policy, heads, versions, created, updated, system)
	WHERE system = 0;
`

// titleKeysVersion names how the stored title keys were made: the key's
// format (TitleOrderKey's first) and the Unicode version of its tables.
var titleKeysVersion = "1/" + unicode.Version

// migrateListOrder upgrades a store of schema 1 to 5 to schema 6: it adds
// the page list's columns (if a half-done upgrade has not), fills them for
// every page and builds their index, in one transaction. About a second
// at 100,000 pages, once.
func (s *Store) migrateListOrder() error {
	tx, err := s.db.Begin()
	if err != nil {
		return classifyOpenError(err)
	}
	defer tx.Rollback()
	have := map[string]bool{}
	rows, err := tx.Query(`SELECT name FROM pragma_table_info('pages')`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		have[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, col := range []string{"cid", "revcid", "okey"} {
		if !have[col] {
			if _, err := tx.Exec(`ALTER TABLE pages ADD COLUMN ` + col + ` BLOB`); err != nil {
				return err
			}
		}
	}
	if _, err := tx.Exec(`UPDATE pages SET okey = pw_title_key(title),
		cid = (SELECT cid FROM blocks WHERE id = pages.id), revcid = (SELECT cid FROM blocks WHERE id = pages.rev)`); err != nil {
		return err
	}
	if _, err := tx.Exec(listOrderSchema); err != nil {
		return err
	}
	if err := setTitleKeysVersion(tx); err != nil {
		return err
	}
	if err := settleShallowVersion(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// checkTitleKeys makes the stored title keys again when they were made
// with other Unicode tables than this binary's (see titleKeysVersion).
func (s *Store) checkTitleKeys() error {
	var made string
	err := s.db.QueryRow(`SELECT value FROM meta WHERE key = 'titlekeys'`).Scan(&made)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if made == titleKeysVersion {
		return nil
	}
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE pages SET okey = pw_title_key(title)`); err != nil {
		return fmt.Errorf("make the page list's title keys again: %w", err)
	}
	if err := setTitleKeysVersion(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func setTitleKeysVersion(q querier) error {
	_, err := q.Exec(`INSERT INTO meta(key, value) VALUES('titlekeys', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, titleKeysVersion)
	return err
}
