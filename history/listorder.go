package history

import (
	"context"
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
// An older peerwiki writing to the store (a serve left running across an
// upgrade) keeps the page rows as it knows them, without these columns.
// Every commit of this one moves the commit count the list's columns are
// current at (meta listed) along with the store's, if they were current
// at the commit before; after a commit of another peerwiki they stay
// behind, EachPage computes the columns for each row as before
// (listColsComputed), and the next open of the store makes them again.
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
	for _, col := range []string{"cid", "revcid", "okey"} {
		var have bool
		if err := tx.QueryRow(`SELECT count(*) > 0 FROM pragma_table_info('pages') WHERE name = ?`, col).Scan(&have); err != nil {
			return err
		}
		if !have {
			if _, err := tx.Exec(`ALTER TABLE pages ADD COLUMN ` + col + ` BLOB`); err != nil {
				return err
			}
		}
	}
	if err := fillListColumns(tx); err != nil {
		return err
	}
	if err := settleShallowVersion(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// checkListColumns makes the page list's columns again when they are not
// current: another peerwiki wrote since this one's last commit (see
// above), or the title keys were made with other Unicode tables than
// this binary's (see titleKeysVersion). A store another process keeps
// busy is left as it is (EachPage computes what it cannot trust).
func (s *Store) checkListColumns() error {
	var made string
	err := s.db.QueryRow(`SELECT value FROM meta WHERE key = 'titlekeys'`).Scan(&made)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	kept, err := listKept(s.db)
	if err != nil {
		return err
	}
	if made == titleKeysVersion && kept {
		return nil
	}
	// Made again by whichever opening finds the database free: one that
	// waited behind another process's write (a serve's sync) waited out
	// the busy timeout, 10 s; the list computes the columns meanwhile.
	ctx := context.Background()
	conn, release, err := s.impatientConn(ctx)
	if err != nil {
		return err
	}
	defer release()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		if isBusy(err) {
			return nil
		}
		return err
	}
	defer tx.Rollback()
	if err := fillListColumns(tx); err != nil {
		return fmt.Errorf("make the page list's columns again: %w", err)
	}
	if err := tx.Commit(); err != nil && !isBusy(err) {
		return err
	}
	return nil
}

// fillListColumns makes every page's list columns from its title and
// blocks, and records them as current, in the transaction q.
func fillListColumns(q querier) error {
	if _, err := q.Exec(`UPDATE pages SET okey = pw_title_key(title),
		cid = (SELECT cid FROM blocks WHERE id = pages.id), revcid = (SELECT cid FROM blocks WHERE id = pages.rev)`); err != nil {
		return err
	}
	if err := setTitleKeysVersion(q); err != nil {
		return err
	}
	return setListed(q)
}

func setTitleKeysVersion(q querier) error {
	_, err := q.Exec(`INSERT INTO meta(key, value) VALUES('titlekeys', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, titleKeysVersion)
	return err
}

// setListed records that the page list's columns are current at the
// commit count the transaction q leaves.
func setListed(q querier) error {
	_, err := q.Exec(`INSERT INTO meta(key, value) SELECT 'listed', value FROM meta WHERE key = 'commits'
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`)
	return err
}

// listKept reports whether the page list's columns are current: no
// commit but this peerwiki's since they were made.
func listKept(q querier) (bool, error) {
	var kept bool
	err := q.QueryRow(`SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'listed') =
		(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'commits'), 0)`).Scan(&kept)
	return kept, err
}
