package test

import (
	"bytes"
	"crypto/sha256"
	varint "encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	mh "github.com/multiformats/go-multihash"
)

// carSection is one block of a CAR v1 file, as the test reads it itself
// (to forge blocks): the header is section 0.
type carSection struct {
	cid  cid.Cid
	data []byte
}

func readCARSections(t *testing.T, file []byte) (header []byte, blocks []carSection) {
	t.Helper()
	r := bytes.NewReader(file)
	next := func() []byte {
		n, err := varint.ReadUvarint(r)
		if err == io.EOF {
			return nil
		} else if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	header = next()
	for s := next(); s != nil; s = next() {
		k, c, err := cid.CidFromBytes(s)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, carSection{c, s[k:]})
	}
	return header, blocks
}

func writeCARSections(header []byte, blocks []carSection) []byte {
	var out []byte
	section := func(parts ...[]byte) {
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		out = varint.AppendUvarint(out, uint64(n))
		for _, p := range parts {
			out = append(out, p...)
		}
	}
	section(header)
	for _, b := range blocks {
		section(b.cid.Bytes(), b.data)
	}
	return out
}

// rehash gives a block edited by a test its true CID: what a forger does
// so that the CID check passes and the next check has to catch it.
func rehash(t *testing.T, b *carSection) {
	t.Helper()
	sum := sha256.Sum256(b.data)
	m, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	b.cid = cid.NewCidV1(b.cid.Prefix().Codec, m)
}

// offlineReplica makes a replica of a's wiki that never meets it: the
// join code carries an address nobody listens on.
func offlineReplica(t *testing.T, a *Repo, name string) *Repo {
	t.Helper()
	code := a.OK("invite", "--addr", "/ip4/127.0.0.1/tcp/9")
	r := NewRepo(t)
	r.OK("join", code, "--no-sync", "--name", name)
	return r
}

// carHistory makes a wiki with edits, a rename, a deletion, a resolved
// conflict and a page merged by its policy (an automatic merge, last).
func carHistory(t *testing.T) *Repo {
	t.Helper()
	a := InitRepo(t, "alice")
	home := a.OK("new", "Home", "--body", "Welcome. See [[Ideas]].\n")
	a.OK("edit", home, "--body", "Welcome. See [[Ideas]] and [[Plans]].\n")
	ideas := a.OK("new", "Ideas", "--body", "one\ntwo\n")
	a.OK("edit", ideas, "--title", "Plans")
	gone := a.OK("new", "Scratch", "--body", "temporary\n")
	a.OK("rm", gone)
	c := a.OK("new", "Contested", "--body", "base\n")
	first := a.Show(c).Rev
	a.OK("edit", c, "--body", "ours\n")
	a.OK("edit", c, "--body", "theirs\n", "--parent", first)
	a.OK("resolve", c, "--body", "both\n")
	m := a.OK("new", "Merged", "--body", "line 1\nline 2\nline 3\nline 4\nline 5\n")
	a.OK("policy", m, "merge")
	base := a.Show(m).Rev
	a.OK("edit", m, "--body", "line 1 changed\nline 2\nline 3\nline 4\nline 5\n")
	a.OK("edit", m, "--body", "line 1\nline 2\nline 3\nline 4\nline 5 changed\n", "--parent", base)
	a.OK("merge", "--all", "--auto")
	if p := a.Show(m); p.Conflict || p.Body != "line 1 changed\nline 2\nline 3\nline 4\nline 5 changed\n" {
		t.Fatalf("the merge policy did not merge: %+v", p)
	}
	return a
}

func TestCARRoundTrip(t *testing.T) {
	a := carHistory(t)
	file := filepath.Join(t.TempDir(), "wiki.car")
	out := a.OK("export", "--car", file)
	if !strings.HasPrefix(out, "exported ") {
		t.Fatalf("export --car printed %q", out)
	}
	a.Fail(1, []string{"export", "--car", file}, "exists")

	b := offlineReplica(t, a, "bob")
	var res struct {
		Blocks, Stored, Revisions int
		Conflicts                 []string
	}
	b.JSON(&res, "import", "--car", file, "--json")
	revsA, autosA := a.Revisions()
	revsB, autosB := b.Revisions()
	if len(revsA) == 0 || !mapsEqual(revsA, revsB) || len(res.Conflicts) != 0 {
		t.Fatalf("after import: %d revisions here, %d there; result %+v", len(revsB), len(revsA), res)
	}
	if len(autosA) == 0 || !reflect.DeepEqual(autosA, autosB) {
		t.Fatalf("automatic merges: %v here, %v there", autosB, autosA)
	}
	if a.HeadsState() != b.HeadsState() {
		t.Fatalf("heads differ:\n%s\n%s", a.HeadsState(), b.HeadsState())
	}
	b.OK("fsck")

	// Again: nothing new.
	b.JSON(&res, "import", "--car", file, "--json")
	if res.Revisions != 0 || res.Stored != 0 {
		t.Fatalf("a second import stored %+v", res)
	}

	// --since the other replica's heads: only what is new.
	var since []string
	for _, p := range b.List() {
		for _, h := range p.Heads {
			since = append(since, "--since", h)
		}
	}
	a.OK("edit", "Home", "--body", "Welcome back.\n")
	a.OK("new", "Later", "--body", "made after the first bundle\n")
	delta := filepath.Join(t.TempDir(), "delta.car")
	a.OK(append([]string{"export", "--car", delta}, since...)...)
	b.JSON(&res, "import", "--car", delta, "--json")
	if res.Revisions != 2 {
		t.Fatalf("the --since bundle brought %d revisions, want 2: %+v", res.Revisions, res)
	}
	if a.HeadsState() != b.HeadsState() {
		t.Fatal("heads differ after the --since bundle")
	}
}

// TestCARReadsWithGoCar: the bundle is a CAR v1 that go-car reads, every
// block matching its CID, the roots being the wiki's heads.
func TestCARReadsWithGoCar(t *testing.T) {
	a := carHistory(t)
	file := filepath.Join(t.TempDir(), "wiki.car")
	a.OK("export", "--car", file)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br, err := carv2.NewBlockReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if br.Version != 1 {
		t.Fatalf("go-car reads version %d, want 1", br.Version)
	}
	n := 0
	seen := map[string]bool{}
	for {
		blk, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		c, err := blk.Cid().Prefix().Sum(blk.RawData())
		if err != nil || !c.Equals(blk.Cid()) {
			t.Fatalf("block %s does not hash to its CID (%v)", blk.Cid(), err)
		}
		seen[blk.Cid().String()] = true
		n++
	}
	revs, _ := a.Revisions()
	for r := range revs {
		if !seen[r] {
			t.Fatalf("revision %s is not in the bundle", r)
		}
	}
	for _, root := range br.Roots {
		if !seen[root.String()] {
			t.Fatalf("root %s is not in the bundle", root)
		}
	}
	if n <= len(revs) || len(br.Roots) == 0 {
		t.Fatalf("%d blocks, %d roots for %d revisions", n, len(br.Roots), len(revs))
	}
}

// TestCARForgeriesStoreNothing: a bundle with one flipped byte, a forged
// signature or a forged automatic merge is refused whole.
func TestCARForgeriesStoreNothing(t *testing.T) {
	a := carHistory(t)
	file := filepath.Join(t.TempDir(), "wiki.car")
	a.OK("export", "--car", file)
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	header, blocks := readCARSections(t, good)
	lastRev := func(auto bool) int {
		for i := len(blocks) - 1; i >= 0; i-- {
			d := blocks[i].data
			if blocks[i].cid.Prefix().Codec == cid.DagCBOR && bytes.Contains(d, []byte("\x66height")) &&
				bytes.Contains(d, []byte("\x63sig")) != auto {
				return i
			}
		}
		t.Fatal("no such revision in the bundle")
		return 0
	}

	forgeries := map[string]func() []byte{
		"one flipped byte": func() []byte {
			bad := slices.Clone(good)
			i := bytes.Index(bad, []byte("temporary"))
			bad[i] ^= 0x01
			return bad
		},
		"a forged signature": func() []byte {
			bs := slices.Clone(blocks)
			i := lastRev(false)
			d := slices.Clone(bs[i].data)
			at := bytes.Index(d, []byte("\x63sig\x58\x40")) + 6
			d[at+10] ^= 0x01
			bs[i].data = d
			rehash(t, &bs[i])
			return writeCARSections(header, bs)
		},
		"a forged automatic merge": func() []byte {
			bs := slices.Clone(blocks)
			i := lastRev(true)
			d := slices.Clone(bs[i].data)
			at := bytes.Index(d, []byte("\x64time\x1b")) + 6
			d[at+7]++ // a millisecond later than its parents say it can be
			bs[i].data = d
			rehash(t, &bs[i])
			return writeCARSections(header, bs)
		},
	}
	for name, forge := range forgeries {
		t.Run(name, func(t *testing.T) {
			b := offlineReplica(t, a, "bob")
			before := b.Snapshot()
			bad := filepath.Join(t.TempDir(), "bad.car")
			if err := os.WriteFile(bad, forge(), 0o644); err != nil {
				t.Fatal(err)
			}
			res := b.Fail(1, []string{"import", "--car", bad})
			t.Logf("refused: %s", strings.TrimSpace(res.Stderr))
			if after := b.Snapshot(); after != before {
				t.Fatalf("a refused bundle changed the repo:\n%s\n%s", before, after)
			}
			var st struct{ Revisions int }
			b.JSON(&st, "status", "--json")
			if st.Revisions != 0 {
				t.Fatalf("%d revisions stored from a refused bundle", st.Revisions)
			}
			// The genuine bundle still goes in.
			b.OK("import", "--car", file)
			if a.HeadsState() != b.HeadsState() {
				t.Fatal("the genuine bundle after a forged one: heads differ")
			}
		})
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// TestCAROfflineMemberRoundTrip: a laptop that never meets the others.
// It joins without syncing (its invite cannot be redeemed: no admin is
// reachable), takes the wiki from a bundle, and edits: the edit is kept
// but does not count yet, and the command says so. Once Ada adds the
// laptop by its id and brings it a bundle, its edit counts there, and a
// bundle back brings it to Ada.
func TestCAROfflineMemberRoundTrip(t *testing.T) {
	a := InitRepo(t, "ada")
	home := a.OK("new", "Home", "--body", "Ada's text.\n")
	laptop := offlineReplica(t, a, "laptop")
	stick := func(from, to *Repo) {
		t.Helper()
		file := filepath.Join(t.TempDir(), "stick.car")
		from.OK("export", "--car", file)
		to.OK("import", "--car", file)
	}
	stick(a, laptop)
	res := laptop.Run("edit", home, "--body", "Written on the laptop.\n")
	if res.Code != 0 || !strings.Contains(res.Stderr, "not on the wiki's member list yet") {
		t.Fatalf("edit on an unlisted replica: exit %d, stderr %q; want 0 and a warning", res.Code, res.Stderr)
	}
	if got := laptop.Show(home).Body; got != "Ada's text.\n" {
		t.Fatalf("the unlisted replica's edit counts already: %q", got)
	}
	id := strings.TrimSpace(laptop.OK("id"))
	a.OK("member", "add", id, "--name", "laptop")
	stick(a, laptop)
	if got := laptop.Show(home).Body; got != "Written on the laptop.\n" {
		t.Fatalf("after Ada added the laptop, its page reads %q", got)
	}
	if res := laptop.Run("edit", home, "--body", "Again, listed.\n"); res.Code != 0 || strings.Contains(res.Stderr, "warning") {
		t.Fatalf("edit once listed: exit %d, stderr %q", res.Code, res.Stderr)
	}
	stick(laptop, a)
	if got := a.Show(home).Body; got != "Again, listed.\n" {
		t.Fatalf("Ada's page after the laptop's bundle reads %q", got)
	}
	a.OK("fsck")
	laptop.OK("fsck")
}
