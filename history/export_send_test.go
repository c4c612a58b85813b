package history

import "context"

// SendHeld is the most a packed send held at once, block by block: the
// CIDs its reader kept for deltas, the stored bytes it read ahead and the
// decoded bytes of one page it kept; and how many blocks went out.
type SendHeld struct{ Blocks, CIDs, PrefetchBytes, CacheBytes int }

// SendPlanHeld sends plan packed to nowhere and reports what it held.
func SendPlanHeld(s *Store, plan *SyncPlan) (SendHeld, error) {
	var h SendHeld
	watchSend = func(r *planReader) {
		h.Blocks++
		h.CIDs = max(h.CIDs, len(r.cids))
		h.PrefetchBytes = max(h.PrefetchBytes, r.rowsBytes)
		h.CacheBytes = max(h.CacheBytes, r.cacheBytes)
	}
	defer func() { watchSend = nil }()
	err := s.SendPlanPacked(context.Background(), plan, func(Packed) error { return nil })
	return h, err
}

// SendPlanDuring sends plan packed, running during once the block
// numbered at has gone out, and returns the CIDs sent.
func SendPlanDuring(s *Store, plan *SyncPlan, at int, during func()) ([]Packed, error) {
	var sent []Packed
	err := s.SendPlanPacked(context.Background(), plan, func(p Packed) error {
		sent = append(sent, p)
		if len(sent) == at {
			during()
		}
		return nil
	})
	return sent, err
}

// SendPlanPackedBothWays sends plan packed twice, with the bodies of
// each run decoded ahead in parallel and without, and returns both, and
// the most bodies one run had decoded ahead.
func SendPlanPackedBothWays(s *Store, plan func() *SyncPlan, pack bool) (ahead, serial []Packed, most int, err error) {
	watchSend = func(r *planReader) { most = max(most, len(r.decoded)) }
	defer func() { watchSend = nil }()
	for _, off := range []bool{false, true} {
		predecodeOff = off
		var sent []Packed
		err = s.sendPlan(context.Background(), plan(), pack, func(p Packed) error {
			sent = append(sent, p)
			return nil
		})
		predecodeOff = false
		if err != nil {
			return nil, nil, 0, err
		}
		if off {
			serial = sent
		} else {
			ahead = sent
		}
	}
	return ahead, serial, most, nil
}
