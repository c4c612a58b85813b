package reconcile

import "fmt"

// read decodes the peer's message against the regions ours left open:
// it learns from the answers, and collects the peer's open pieces as
// jobs.
func (s *session) read(r *reader, step *Step) error {
	s.jobs = s.jobs[:0]
	maxOpen := s.frame / openPerFrame
	for ri := range s.regions {
		g := s.regions[ri]
		lo := g.lo
		for first := true; ; first = false {
			p, err := r.piece()
			if err != nil {
				return err
			}
			hi := g.hi
			if p.bounded {
				hi = bound{key: p.hi}
				if !lo.less(hi) || !hi.less(g.hi) {
					return malformed("range %d: a bound out of order or outside the range", ri)
				}
			}
			if !allowed(g.mode, p.mode, first && !p.bounded, p.bounded) {
				how := "a part"
				if first && !p.bounded {
					how = "the whole"
				}
				return malformed("range %d: %s of a range we sent as %s answered with %s", ri, how, modeName(g.mode), modeName(p.mode))
			}
			if n := p.ids.count(); n > 0 && (p.ids.id(0).Compare(lo.key) < 0 || !hi.above(p.ids.id(n-1))) {
				return malformed("range %d: keys outside their range", ri)
			}
			switch p.mode {
			case modeFingerprint, modeIdList, modeDefer:
				if len(s.jobs) == maxOpen {
					return malformed("more than %d open ranges", maxOpen)
				}
				s.jobs = append(s.jobs, job{lo: lo, hi: hi, mode: p.mode, fp: p.fp, ids: p.ids})
			case modeAnswer:
				if err := s.learn(ri, lo, hi, &p, step); err != nil {
					return err
				}
			}
			if !p.bounded {
				break
			}
			lo = hi
		}
	}
	if r.rest() != 0 {
		return malformed("%d bytes after the last range", r.rest())
	}
	return nil
}

// allowed says which pieces may answer a range we left open, by what we
// sent for it: the whole range in one piece, or split in several.
func allowed(ours, theirs byte, whole, bounded bool) bool {
	ok := false
	switch ours {
	case modeStart:
		ok = theirs == modeFingerprint || theirs == modeIdList
	case modeFingerprint:
		// Same fingerprint, not now, or my keys; or a split. Never the
		// same question back whole: that would go round forever.
		if whole {
			ok = theirs == modeSkip || theirs == modeDefer || theirs == modeIdList
		} else {
			ok = theirs == modeFingerprint || theirs == modeIdList
		}
	case modeIdList:
		// Answers, and at the end a fingerprint of what did not fit.
		ok = theirs == modeSkip || theirs == modeAnswer ||
			(whole && theirs == modeDefer) || (!whole && !bounded && theirs == modeFingerprint)
	case modeDefer:
		// Nobody asked yet: the peer asks, or defers again.
		ok = theirs == modeFingerprint || theirs == modeIdList || (whole && theirs == modeDefer)
	}
	return ok
}

func modeName(m byte) string {
	if m == modeStart {
		return "the start"
	}
	return modeNames[m]
}

// positions returns the positions of our items in [lo, hi).
func (s *session) positions(lo, hi bound) (int, int, error) {
	i, err := s.set.Search(lo.key)
	if err != nil {
		return 0, 0, err
	}
	j := s.n
	if !hi.end {
		if j, err = s.set.Search(hi.key); err != nil {
			return 0, 0, err
		}
	}
	if i < 0 || i > j || j > s.n {
		return 0, 0, fmt.Errorf("reconcile: the set's search returned [%d, %d) of %d", i, j, s.n)
	}
	return i, j, nil
}

// learn takes the peer's answer to the keys we listed in [lo, hi), piece
// of the ri-th range.
func (s *session) learn(ri int, lo, hi bound, p *piece, step *Step) error {
	i, j, err := s.positions(lo, hi)
	if err != nil {
		return err
	}
	if p.nbits != j-i {
		return malformed("range %d: an answer about %d of our keys where we listed %d", ri, p.nbits, j-i)
	}
	ours, err := s.set.Keys(s.keys[:0], i, j)
	if err != nil {
		return err
	}
	s.keys = ours
	for k := range ours {
		if p.lacks(k) {
			step.Have = append(step.Have, ours[k])
		}
	}
	a := 0
	for k := range p.ids.count() {
		id := p.ids.id(k)
		for a < len(ours) && ours[a].Compare(id) < 0 {
			a++
		}
		if a < len(ours) && ours[a] == id {
			return malformed("range %d: an answer says we lack a key we listed", ri)
		}
		step.Need = append(step.Need, id)
	}
	return s.needed(p.ids.count())
}

// needed counts keys reported as needed: never more than the peer said it
// holds.
func (s *session) needed(n int) error {
	s.needs += n
	if s.needs > s.peerN {
		return malformed("%d keys needed from a peer that said it holds %d", s.needs, s.peerN)
	}
	return nil
}
