package wiki

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
	"peerwiki/merge"
)

// The wiki-wide default policy is replicated data: it lives in a settings
// page whose genesis is the same unsigned block on every replica (a pure
// function of the wiki id), so all replicas share one settings page without
// coordinating. Changes to it are ordinary signed revisions; concurrent
// changes are settled by last-writer-wins.

// PriorityList is the wiki's replica priority, highest first.
func (r *Repo) PriorityList(ctx context.Context) ([]string, error) {
	s, _, err := r.settings(ctx)
	if err != nil || s["priority"] == "" {
		return nil, err
	}
	return strings.Split(s["priority"], ","), nil
}

// SetPriorityList replaces the wiki's replica priority (replicated, like
// the default policy). Pages get it with 'policy PAGE priority'.
func (r *Repo) SetPriorityList(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if _, err := peer.Decode(id); err != nil {
			return fmt.Errorf("%w: %q is not a peer id", ErrInvalid, id)
		}
	}
	if len(ids) == 0 {
		return fmt.Errorf("%w: give the peer ids, highest priority first", ErrInvalid)
	}
	return r.setSetting(ctx, "priority", strings.Join(ids, ","), "replica priority")
}

// A page's revisions always carry the policy that governs their
// divergences, so that an automatic merge is a pure function of the heads
// it merges, whatever each replica believes the wiki's default to be:
//
//   - "NAME" (or home:PEERID) is the page's own override;
//   - "=NAME" is the wiki's default as the writer knew it when writing.
//
// Heads that carry different policies are left to a person. Changing the
// wiki's default re-labels the heads of pages that are in conflict now, and
// every later write carries the new default.

// stampPolicy fills in the policy a new signed revision carries: the
// override it inherited, else the wiki's current default.
func (r *Repo) stampPolicy(ctx context.Context, d *Draft) error {
	if d.Page.Defined() && (d.Page.Equals(r.SettingsPage()) || d.Page.Equals(r.MembersPage())) {
		d.Policy = ""
		return nil
	}
	if d.Policy != "" && !strings.HasPrefix(d.Policy, "=") {
		return nil
	}
	wp, err := r.WikiPolicy(ctx)
	if err != nil {
		return err
	}
	d.Policy = "=" + string(wp)
	return nil
}

// DefaultPolicy is the policy of a wiki nobody has configured.
const DefaultPolicy = merge.PolicyManual

// settingsGenesis is the settings page's genesis block and its (empty) body.
func settingsGenesis(wiki string) (history.Block, history.Block) {
	return systemGenesis(wiki, "peerwiki settings v1", "settings")
}

// systemGenesis is the genesis of one of the wiki's own pages (settings,
// members): an unsigned block every replica derives from the wiki id
// alone, so all share the page without coordinating, and its empty body.
//
// The blocks are kept once worked out (a process opens one wiki or a few):
// every batch a node receives asks whether it touched the members page,
// and encoding and hashing the genesis again was a tenth of storing a
// live edit's revision (issue 14).
func systemGenesis(wiki, nonce, title string) (history.Block, history.Block) {
	key := systemPageKey{wiki, nonce, title}
	if g, ok := systemPages.Load(key); ok {
		p := g.([2]history.Block)
		return p[0], p[1]
	}
	blk, body := encodeSystemGenesis(wiki, nonce, title)
	systemPages.Store(key, [2]history.Block{blk, body})
	return blk, body
}

type systemPageKey struct{ wiki, nonce, title string }

// systemPages holds systemGenesis's blocks by systemPageKey.
var systemPages sync.Map

func encodeSystemGenesis(wiki, nonce, title string) (history.Block, history.Block) {
	body := history.NewBlock(history.CodecRaw, nil)
	rev := &history.Revision{Wiki: wiki, Nonce: []byte(nonce), Title: title,
		Body: history.Link{Cid: body.Cid}, Time: 0, Height: 1}
	blk, err := rev.Block()
	if err != nil {
		panic(err) // a constant-shaped revision always encodes
	}
	return blk, body
}

// SettingsPage is the id of the wiki's settings page.
func (r *Repo) SettingsPage() cid.Cid {
	g, _ := settingsGenesis(r.Config.Wiki)
	return g.Cid
}

// ensureSettings stores the settings genesis if it is not stored yet.
func (r *Repo) ensureSettings(ctx context.Context) error {
	return r.ensureSystemPage(ctx, settingsGenesis)
}

// ensureSystemPage stores a system page's genesis if it is not stored yet.
func (r *Repo) ensureSystemPage(ctx context.Context, genesis func(wiki string) (history.Block, history.Block)) error {
	g, body := genesis(r.Config.Wiki)
	if ok, err := r.store.Has(ctx, g.Cid); err != nil || ok {
		return err
	}
	_, err := r.store.Put(ctx, []history.Block{body, g})
	return err
}

// parseSettings reads "key = value" lines.
func parseSettings(body string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

func formatSettings(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, m[k])
	}
	return b.String()
}

// settings returns the current settings: those of the settings page's
// last writer when it has several heads.
func (r *Repo) settings(ctx context.Context) (map[string]string, []cid.Cid, error) {
	heads, err := r.store.Heads(ctx, r.SettingsPage())
	if errors.Is(err, history.ErrNotFound) {
		return map[string]string{}, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	c := &r.settingsCache
	c.Lock()
	if c.values != nil && slices.EqualFunc(c.heads, heads, cid.Cid.Equals) {
		values := maps.Clone(c.values)
		c.Unlock()
		return values, heads, nil
	}
	c.Unlock()
	winner, err := r.lwwHead(ctx, heads)
	if err != nil {
		return nil, nil, err
	}
	values := parseSettings(winner.Body)
	c.Lock()
	c.heads, c.values = slices.Clone(heads), maps.Clone(values)
	c.Unlock()
	return values, heads, nil
}

// setSetting changes one key of the replicated settings with a signed
// revision whose parents are all the settings page's heads.
func (r *Repo) setSetting(ctx context.Context, key, value, msg string) error {
	if err := r.ensureSettings(ctx); err != nil {
		return err
	}
	s, heads, err := r.settings(ctx)
	if err != nil {
		return err
	}
	s[key] = value
	_, err = r.commit(ctx, Draft{Page: r.SettingsPage(), Parents: heads, Title: "settings",
		Body: formatSettings(s), Msg: msg})
	return err
}

// WikiPolicy is the wiki-wide default policy.
func (r *Repo) WikiPolicy(ctx context.Context) (merge.Policy, error) {
	s, _, err := r.settings(ctx)
	if err != nil {
		return "", err
	}
	p, err := CheckPagePolicy(s["policy"])
	if _, home := merge.HomeOf(p); err != nil || home {
		return DefaultPolicy, nil
	}
	return p, nil
}

// SetWikiPolicy changes the wiki-wide default policy, then applies it to
// pages that are conflicted now. It returns the pages it merged.
func (r *Repo) SetWikiPolicy(ctx context.Context, p merge.Policy) ([]cid.Cid, error) {
	s, heads, err := r.settings(ctx)
	if err != nil {
		return nil, err
	}
	if s["policy"] == string(p) && len(heads) == 1 {
		return nil, fmt.Errorf("%w: the wiki's policy is already %s", ErrNoChange, p)
	}
	if err := r.setSetting(ctx, "policy", string(p), "wiki policy "+string(p)); err != nil {
		return nil, err
	}
	// Pages in conflict now that follow the wiki get the new default on
	// their heads, so it applies to their divergence.
	rows, err := r.store.Conflicted(ctx)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		pp, err := r.PolicyOf(ctx, row.ID)
		if err != nil {
			return nil, err
		}
		if pp.Override == "" {
			if err := r.labelHeads(ctx, row.ID, "="+string(p)); err != nil {
				return nil, err
			}
		}
	}
	return r.AutoMergeAll(ctx)
}

// ConfirmDefault is how many other replicas must confirm each write
// unless a command says otherwise (replicated; 0 when unset).
func (r *Repo) ConfirmDefault(ctx context.Context) int {
	s, _, err := r.settings(ctx)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(s["confirm"])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// SetConfirmDefault changes the wiki's default for --confirm.
func (r *Repo) SetConfirmDefault(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("%w: a negative number of replicas", ErrInvalid)
	}
	return r.setSetting(ctx, "confirm", strconv.Itoa(n), "confirm "+strconv.Itoa(n))
}
