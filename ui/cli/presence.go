package cli

import (
	"time"

	"peerwiki/p2p"
	"peerwiki/wiki"
)

// editor is another replica's editor open on a page, as the node on the
// repo heard of it (presence: advisory, never a lock).
type editor struct {
	PeerID string
	Name   string
	Since  time.Time
}

// editorsByPage is what the node on the repo heard of other replicas'
// editors, by page id.
func editorsByPage(r *wiki.Repo) map[string][]editor {
	out := map[string][]editor{}
	for _, e := range p2p.ReadPresence(r.Dir) {
		if e.PeerID == r.ID.ID.String() {
			continue
		}
		out[e.Page] = append(out[e.Page], editor{PeerID: e.PeerID, Name: e.Name, Since: time.UnixMilli(e.Since)})
	}
	return out
}
