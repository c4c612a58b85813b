package history

import (
	"context"
	"fmt"
)

// IndexTables returns the pages, search and links tables as lines, pages
// and revisions named by CID, for comparing stores made differently.
func IndexTables(s *Store) ([]string, error) {
	var out []string
	for _, q := range []string{
		`SELECT 'page', hex(b.cid), hex(r.cid), p.title, p.deleted, p.policy, p.heads, p.versions, p.system, p.created, p.updated,
			hex(p.cid), hex(p.revcid), hex(p.okey) FROM pages p JOIN blocks b ON b.id = p.id JOIN blocks r ON r.id = p.rev`,
		`SELECT 'search', hex(b.cid), s.title, s.body, '', '', '', '', '', '', '', '', '', '' FROM search s JOIN blocks b ON b.id = s.docid`,
		`SELECT 'link', hex(b.cid), l.target, '', '', '', '', '', '', '', '', '', '', '' FROM links l JOIN blocks b ON b.id = l.src`,
	} {
		rows, err := s.db.Query(q)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			v := make([]any, 14)
			p := make([]any, len(v))
			for i := range v {
				p[i] = &v[i]
			}
			if err := rows.Scan(p...); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, fmt.Sprintf("%#v", v))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Reindex indexes every page again the way an edit does (refreshPage),
// in one transaction.
func Reindex(s *Store) error {
	ctx := context.Background()
	conn, tx, err := s.beginWriteTx(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer tx.end()
	var pages []int64
	rows, err := tx.Query(`SELECT DISTINCT page FROM heads`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return err
		}
		pages = append(pages, p)
	}
	rows.Close()
	for _, p := range pages {
		if _, err := refreshPage(tx, p, s.opts.Links, false); err != nil {
			return err
		}
	}
	return tx.commit()
}
