package history

// idSet is a set of row ids, as a send keeps the blocks it has sent and
// the pages it sends shallow. Row ids are dense (SQLite gives each new
// row the next one), so a large set is a bitmap: a bit a row up to the
// greatest id added, 75 KB for a store of 600,000 blocks, where a map
// took about 20 bytes an id (6 MB for a 100,000-page shallow join). A
// small set stays a map, so that a send of a few blocks does not pay for
// a bitmap of the whole store.
type idSet struct {
	small map[int64]struct{}
	bits  []uint64
	big   bool
}

// idSetSmall is how many ids an idSet holds in its map before it turns
// into a bitmap.
const idSetSmall = 1024

// idSetMaxBit bounds the bitmap (16 MB): an id beyond it (a store of
// over 128 M rows, or a row id set by hand) stays in the map.
const idSetMaxBit = 1 << 27

func (s *idSet) add(id int64) {
	if s.big && id >= 0 && id < idSetMaxBit {
		w := int(id >> 6)
		if w >= len(s.bits) {
			s.bits = append(s.bits, make([]uint64, w+1-len(s.bits))...)
		}
		s.bits[w] |= 1 << (id & 63)
		return
	}
	if s.small == nil {
		s.small = map[int64]struct{}{}
	}
	s.small[id] = struct{}{}
	if !s.big && len(s.small) > idSetSmall {
		s.big = true
		for k := range s.small {
			if k >= 0 && k < idSetMaxBit {
				delete(s.small, k)
				s.add(k)
			}
		}
	}
}

func (s *idSet) has(id int64) bool {
	if s.big && id >= 0 && id < idSetMaxBit {
		w := int(id >> 6)
		return w < len(s.bits) && s.bits[w]&(1<<(id&63)) != 0
	}
	_, ok := s.small[id]
	return ok
}
