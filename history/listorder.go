package history

import (
	"database/sql"
	"errors"
	"fmt"
	"unicode"
)

// The page list's order is kept with each page, not computed. A page's
// row holds its own CID, its current revision's CID and its title's
// TitleOrderKey (okey), so a list is one scan of the pages table sorted
// by SQLite on plain columns (okey, title, cid): no block is read and no
// Go function is called per row. Computing the key per row (a cgo
// callback) and looking each page's two CIDs up in blocks (random reads
// into the largest table) cost 0.8-1.1 s at 100,000 pages; the sort of
// the stored columns costs 0.17-0.2 s. The columns cost about 100 bytes a
// page; an edit rewrites its page's row as it did before.
//
// No index keeps that order: a list walking one (0.16-0.2 s as well)
// made an import of 100,000 pages in batches six times slower, each
// batch's commit writing a thousand of the index's pages to the log,
// scattered as titles are.
//
// The key depends on the Unicode tables unicode.ToLower uses: the store
// records the version its keys were made with (meta titlekeys), and a
// binary built with other tables makes them again when it opens the store.

// titleKeysVersion names how the stored title keys were made: the key's
// format (TitleOrderKey's first) and the Unicode version of its tables.
var titleKeysVersion = "1/" + unicode.Version

// migrateListOrder upgrades a store of schema 1 to 5 to schema 6: it adds
// the page list's columns (if a half-done upgrade has not) and fills them
// for every page, in one transaction. About a second at 100,000 pages,
// once.
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
