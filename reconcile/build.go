package reconcile

import "fmt"

// build answers the peer's open pieces (s.jobs).
//
// The leftmost piece is answered first, within the hard bounds: so every
// message makes progress on it, and when every range needs a split the
// open ranges grow only by Branches-1 a level down the leftmost path, of
// bounded depth (openHeadroom is that room). The others are answered by
// priority, within openHeadroom under the bounds: the peer's id lists
// first (answering settles a range, and a list deferred would come back
// whole), then fingerprints (a split is progress), then ranges the peer
// left open (asking again only passes the turn). A piece whose answer
// does not fit, counting one byte and one open range for each piece not
// answered, is deferred. The answers are then laid out in key order, as
// the peer reads them.
func (s *session) build(out []byte, step *Step) ([]byte, error) {
	maxOpen := s.frame / openPerFrame
	jobs := s.jobs
	s.order = append(s.order[:0], 0)
	for _, mode := range [...]byte{modeIdList, modeFingerprint, modeDefer} {
		for k := 1; k < len(jobs); k++ {
			if jobs[k].mode == mode {
				s.order = append(s.order, k)
			}
		}
	}
	s.scratch, s.next = s.scratch[:0], s.next[:0]
	size, open := len(out)+len(jobs), len(jobs) // as if every piece were deferred
	for o, k := range s.order {
		jb := &jobs[k]
		capOpen := maxOpen - openHeadroom
		if o == 0 {
			capOpen = maxOpen
		}
		room := s.frame - (size - 1)
		if jb.mode == modeIdList && open > capOpen {
			// Its answer leaves at most one range open (the rest of a long
			// answer): when even that does not fit, it is deferred before
			// reading our keys in the range for nothing.
			continue
		}
		mark, nmark, hmark, nd, needs := len(s.scratch), len(s.next), len(step.Have), len(step.Need), s.needs
		var err error
		ok := true
		switch jb.mode {
		case modeFingerprint:
			s.scratch, err = s.compare(s.scratch, jb)
		case modeIdList:
			s.scratch, ok, err = s.answer(s.scratch, jb, room, step)
		case modeDefer:
			s.scratch, err = s.reask(s.scratch, jb)
		}
		if err != nil {
			return nil, err
		}
		n, no := len(s.scratch)-mark, len(s.next)-nmark
		if !ok || size-1+n > s.frame || open-1+no > capOpen {
			s.scratch, s.next = s.scratch[:mark], s.next[:nmark]
			step.Have, step.Need, s.needs = step.Have[:hmark], step.Need[:nd], needs
			continue
		}
		size, open = size-1+n, open-1+no
		jb.answered = true
		jb.out = [2]int32{int32(mark), int32(len(s.scratch))}
		jb.regions = [2]int32{int32(nmark), int32(len(s.next))}
	}
	// The ranges the peer's message covered are read: their slice now
	// takes the ranges ours leaves open.
	s.regions = s.regions[:0]
	for k := range jobs {
		jb := &jobs[k]
		if !jb.answered {
			out = appendHeader(out, modeDefer, nil)
			s.regions = append(s.regions, region{lo: jb.lo, hi: jb.hi, mode: modeDefer})
			continue
		}
		out = append(out, s.scratch[jb.out[0]:jb.out[1]]...)
		s.regions = append(s.regions, s.next[jb.regions[0]:jb.regions[1]]...)
	}
	return out, nil
}

// reask asks again about a range the peer left open: our keys in it if
// they are few, else our fingerprint of it.
func (s *session) reask(out []byte, jb *job) ([]byte, error) {
	i, j, err := s.positions(jb.lo, jb.hi)
	if err != nil {
		return nil, err
	}
	mode := modeFingerprint
	if j-i <= LeafItems {
		mode = modeIdList
	}
	return s.ask(out, jb.lo, jb.hi, mode)
}

// ask appends one question about [lo, hi): our fingerprint of it, or our
// keys in it.
func (s *session) ask(out []byte, lo, hi bound, mode byte) ([]byte, error) {
	i, j, err := s.positions(lo, hi)
	if err != nil {
		return nil, err
	}
	out = appendHeader(out, mode, nil)
	if mode == modeIdList {
		ks, err := s.set.Keys(s.keys[:0], i, j)
		if err != nil {
			return nil, err
		}
		s.keys = ks
		out = appendKeys(out, ks)
	} else {
		fp, err := s.fingerprint(i, j)
		if err != nil {
			return nil, err
		}
		out = append(out, fp[:]...)
	}
	s.next = append(s.next, region{lo: lo, hi: hi, mode: mode})
	return out, nil
}

func (s *session) fingerprint(i, j int) ([FingerprintSize]byte, error) {
	sum, err := s.set.Sum(i, j)
	if err != nil {
		return [FingerprintSize]byte{}, err
	}
	return fingerprint(&s.salt, sum, j-i), nil
}

// compare answers the peer's fingerprint of a range: equal, our keys if
// they are few, else our fingerprints of Branches parts with as many of
// our items each.
func (s *session) compare(out []byte, jb *job) ([]byte, error) {
	i, j, err := s.positions(jb.lo, jb.hi)
	if err != nil {
		return nil, err
	}
	fp, err := s.fingerprint(i, j)
	if err != nil {
		return nil, err
	}
	c := j - i
	switch {
	case fp == jb.fp:
		return appendHeader(out, modeSkip, nil), nil
	case c <= LeafItems:
		return s.ask(out, jb.lo, jb.hi, modeIdList)
	}
	// Every part holds at least one item (c > LeafItems >= 1, so there
	// are at least two parts), so the bounds strictly increase.
	parts := min(Branches, c)
	lo, at := jb.lo, i
	for b := 1; b <= parts; b++ {
		next, hi := j, jb.hi
		if b < parts {
			next = i + b*c/parts
			ks, err := s.set.Keys(s.keys[:0], next-1, next+1)
			if err != nil {
				return nil, err
			}
			s.keys = ks
			if len(ks) != 2 || ks[0].Compare(ks[1]) >= 0 {
				return nil, fmt.Errorf("reconcile: the set's keys at %d and %d are not in increasing order", next-1, next)
			}
			hi = bound{key: between(ks[0], ks[1])}
		}
		fp, err := s.fingerprint(at, next)
		if err != nil {
			return nil, err
		}
		if b == parts {
			out = appendHeader(out, modeFingerprint, nil)
		} else {
			out = appendHeader(out, modeFingerprint, &hi.key)
		}
		out = append(out, fp[:]...)
		s.next = append(s.next, region{lo: lo, hi: hi, mode: modeFingerprint})
		lo, at = hi, next
	}
	return out, nil
}
