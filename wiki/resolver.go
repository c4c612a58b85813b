package wiki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/merge"
)

// A resolver is a program this replica runs when a page whose title
// matches Pattern gains a divergence its policy leaves for a person, like
// git's merge drivers: it gets the base, ours and theirs bodies as files
// and prints the resolved body. Its result becomes a resolution revision
// signed by this replica. Resolvers are local configuration
// (resolvers.json in the repo), never replicated data: a peer must not be
// able to make another replica run a program.

// ResolversFile holds this replica's resolvers.
const ResolversFile = "resolvers.json"

// DefaultResolverTimeout bounds a resolver that does not say otherwise.
const DefaultResolverTimeout = 10 * time.Second

// Resolver is one configured program.
type Resolver struct {
	Pattern string `json:"pattern"` // a path.Match pattern over titles ("*" for all)
	Command string `json:"command"` // run by sh -c with BASE OURS THEIRS as $1 $2 $3
	Timeout string `json:"timeout,omitempty"`
}

func (rs Resolver) timeout() time.Duration {
	if d, err := time.ParseDuration(rs.Timeout); err == nil && d > 0 {
		return d
	}
	return DefaultResolverTimeout
}

// Resolvers reads this replica's resolvers.
func (r *Repo) Resolvers() ([]Resolver, error) {
	b, err := os.ReadFile(filepath.Join(r.Dir, ResolversFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var rs []Resolver
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %v", ResolversFile, err)
	}
	return rs, nil
}

// SetResolvers writes this replica's resolvers.
func (r *Repo) SetResolvers(rs []Resolver) error {
	for _, x := range rs {
		if _, err := path.Match(x.Pattern, ""); err != nil || x.Pattern == "" {
			return fmt.Errorf("%w: bad title pattern %q", ErrInvalid, x.Pattern)
		}
		if strings.TrimSpace(x.Command) == "" {
			return fmt.Errorf("%w: empty resolver command", ErrInvalid)
		}
		if x.Timeout != "" {
			if d, err := time.ParseDuration(x.Timeout); err != nil || d <= 0 {
				return fmt.Errorf("%w: bad timeout %q", ErrInvalid, x.Timeout)
			}
		}
	}
	if rs == nil {
		rs = []Resolver{}
	}
	b, _ := json.MarshalIndent(rs, "", "  ")
	return os.WriteFile(filepath.Join(r.Dir, ResolversFile), append(b, '\n'), 0o600)
}

// resolverFor returns the first resolver whose pattern matches one of titles.
func resolverFor(rs []Resolver, titles ...string) (Resolver, bool) {
	for _, x := range rs {
		for _, t := range titles {
			if ok, _ := path.Match(x.Pattern, t); ok {
				return x, true
			}
		}
	}
	return Resolver{}, false
}

// logResolver reports what a resolver did to the repo's Logger, if any.
func (r *Repo) logResolver(msg string, args ...any) {
	if r.Logger != nil {
		r.Logger.Warn(msg, args...)
	}
}

// runResolvers gives a still-divergent page to this replica's resolver, if
// one matches: heads are folded pairwise (sorted by CID) against their
// merge base, each step through the program. Any failure leaves the
// conflict for a person, with a log line.
func (r *Repo) runResolvers(ctx context.Context, page cid.Cid) error {
	rs, err := r.Resolvers()
	if err != nil || len(rs) == 0 {
		return err
	}
	heads, err := r.store.Heads(ctx, page)
	if err != nil || len(heads) < 2 {
		return err
	}
	heads = sortByBytes(heads)
	rd := r.store.Reader()
	vs := make([]merge.Version, len(heads))
	for i, h := range heads {
		if vs[i], _, err = versionOf(rd, h); err != nil {
			return err
		}
	}
	titles := make([]string, len(vs))
	for i, v := range vs {
		titles[i] = v.Title
	}
	res, ok := resolverFor(rs, titles...)
	if !ok {
		return nil
	}
	dag, err := rd.PageDAG(page)
	if err != nil {
		return err
	}
	body := vs[0].Body
	for k := 1; k < len(heads); k++ {
		base, _, err := baseFields(rd, dag, heads[:k], heads[k], merge.PolicyMerge, 0)
		if err != nil {
			return err
		}
		if body, err = runResolver(ctx, res, base.Body, body, vs[k].Body); err != nil {
			r.logResolver("resolver failed; the conflict is left for a person", "page", page.String(), "command", res.Command, "err", err)
			return nil
		}
	}
	title := vs[0].Title
	for _, v := range vs[1:] {
		if v.Title != title {
			title = merge.LastWriter(vs).Title // titles are not the program's to merge
			break
		}
	}
	_, err = r.Resolve(ctx, page, Resolution{Title: &title, Body: &body, Msg: "resolved by " + res.Command})
	return err
}

// runResolver runs one resolver step: the program's standard output is the
// resolved body. It is killed, with its children, at its time limit.
func runResolver(ctx context.Context, res Resolver, base, ours, theirs string) (string, error) {
	dir, err := os.MkdirTemp("", "peerwiki-resolve-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	var files []string
	for _, f := range []struct{ name, text string }{{"base", base}, {"ours", ours}, {"theirs", theirs}} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, []byte(f.text), 0o600); err != nil {
			return "", err
		}
		files = append(files, p)
	}
	ctx, cancel := context.WithTimeout(ctx, res.timeout())
	defer cancel()
	cmd := exec.Command("sh", append([]string{"-c", res.Command, "sh"}, files...)...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
		}
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the program and anything it started
		<-done
		return "", fmt.Errorf("killed after %s", res.timeout())
	}
	text := out.String()
	if err := CheckBody(text); err != nil {
		return "", err
	}
	return text, nil
}
