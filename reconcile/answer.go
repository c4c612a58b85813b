package reconcile

import "encoding/binary"

// answer answers the peer's list of its keys in a range: our keys it
// lacks, and which of its keys we lack. When that does not fit in room
// bytes it answers the front of the range, up to a bound, and asks about
// the rest with our fingerprint of it (the peer lists its keys there
// again, and we answer the next part). ok is false when not even one key
// fits.
func (s *session) answer(out []byte, jb *job, room int, step *Step) (_ []byte, ok bool, err error) {
	i, j, err := s.positions(jb.lo, jb.hi)
	if err != nil {
		return nil, false, err
	}
	theirs := jb.ids
	nt := theirs.count()
	// The walk below stops once room is spent: it can take no more of
	// our keys than room/KeySize that the peer lacks, plus those it
	// listed, plus one to place the bound.
	fetch := min(j-i, room/KeySize+nt+1)
	ours, err := s.set.Keys(s.keys[:0], i, i+fetch)
	if err != nil {
		return nil, false, err
	}
	s.keys = ours

	// Take as much of both lists, in key order, as fits: first all of it
	// in one piece, else a front part with a bound and the remainder's
	// question. a, b count our keys and theirs taken, missing ours that
	// the peer lacks.
	a, b, missing := walk(ours, theirs, room-1)
	whole := a == j-i && b == nt
	if !whole {
		a, b, missing = walk(ours, theirs, room-(1+KeySize+1+FingerprintSize+1))
		if a+b == 0 {
			return out, false, nil
		}
	}
	lacks := 0

	// What we learn: the keys of ours it lacks, and the listed ones we
	// lack, both among those taken.
	bits := make([]byte, (b+7)/8)
	have := make([]Key, 0, missing)
	x := 0
	for k := range b {
		id := theirs.id(k)
		for x < a && ours[x].Compare(id) < 0 {
			have = append(have, ours[x])
			x++
		}
		if x < a && ours[x] == id {
			x++
			continue
		}
		bits[k/8] |= 1 << (k % 8)
		step.Need = append(step.Need, id)
		lacks++
	}
	have = append(have, ours[x:a]...)
	step.Have = append(step.Have, have...)
	if err := s.needed(lacks); err != nil {
		return nil, false, err
	}

	var hi *Key
	if !whole {
		// The bound lies above everything taken and at or below the next
		// key of either list.
		var last, next Key
		if a > 0 {
			last = ours[a-1]
		}
		if b > 0 && (a == 0 || theirs.id(b-1).Compare(last) > 0) {
			last = theirs.id(b - 1)
		}
		switch {
		case b == nt:
			next = ours[a]
		case a == len(ours):
			next = theirs.id(b)
		case ours[a].Compare(theirs.id(b)) < 0:
			next = ours[a]
		default:
			next = theirs.id(b)
		}
		k := between(last, next)
		hi = &k
	}
	if whole && missing == 0 && lacks == 0 {
		return appendHeader(out, modeSkip, nil), true, nil
	}
	out = appendHeader(out, modeAnswer, hi)
	out = appendKeys(out, have)
	out = binary.AppendUvarint(out, uint64(b))
	out = append(out, bits...)
	if !whole {
		rest := bound{key: *hi}
		out, err = s.ask(out, rest, jb.hi, modeFingerprint)
		if err != nil {
			return nil, false, err
		}
	}
	return out, true, nil
}

// walk takes our keys and the peer's listed ones in key order while an
// answer listing ours that the peer lacks and a bit for each of theirs
// fits in room bytes; it returns how many of each it took, and how many
// of ours the peer lacks.
func walk(ours []Key, theirs keyList, room int) (a, b, missing int) {
	nt := theirs.count()
	for a < len(ours) || b < nt {
		na, nb, nm := a, b, missing
		switch {
		case b == nt || (a < len(ours) && ours[a].Compare(theirs.id(b)) < 0):
			na, nm = a+1, missing+1
		case a == len(ours) || theirs.id(b).Compare(ours[a]) < 0:
			nb = b + 1
		default:
			na, nb = a+1, b+1
		}
		if answerSize(nm, nb) > room {
			break
		}
		a, b, missing = na, nb, nm
	}
	return a, b, missing
}

// answerSize is the size of an answer's payload listing missing keys and
// a bit for each of listed keys.
func answerSize(missing, listed int) int {
	return uvarintSize(missing) + missing*KeySize + uvarintSize(listed) + (listed+7)/8
}
