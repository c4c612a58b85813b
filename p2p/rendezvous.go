package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// Rendezvous: every member's node provides, on the DHT, a key derived
// from the wiki id, a secret only members hold (package wiki makes it
// from the member list's founding operation and its removals, so it
// changes when someone is removed) and the current UTC day (so it changes
// daily, and a key seen on the DHT says nothing about tomorrow's). It
// looks up the providers of the same key and dials them; the gate decides
// as for any dial. Outsiders see a random-looking CID and the peer ids
// and public addresses of its providers, as with any content on the DHT.

// rendezvousTag separates these keys from any other hash of the same
// bytes.
const rendezvousTag = "peerwiki/rendezvous/v1"

// RendezvousKey is the DHT key the members of wiki provide on day (its
// UTC date counts): a raw CIDv1 of the SHA-256 of the tag, the wiki id,
// the secret and the date, each length-prefixed.
func RendezvousKey(wiki string, secret []byte, day time.Time) cid.Cid {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(rendezvousTag), []byte(wiki), secret, []byte(day.UTC().Format(time.DateOnly))} {
		h.Write(binary.AppendUvarint(nil, uint64(len(part))))
		h.Write(part)
	}
	digest, err := mh.Encode(h.Sum(nil), mh.SHA2_256)
	if err != nil {
		panic(err) // a 32-byte SHA-256 digest always encodes
	}
	return cid.NewCidV1(cid.Raw, digest)
}

// rendezvousWindow is how close to midnight (UTC) a node also provides
// tomorrow's key and looks up yesterday's, so that two members whose
// clocks disagree a little, or who look just after the other provided,
// still meet.
const rendezvousWindow = time.Hour

// rendezvousKeys are the keys to provide and to look up at now.
func rendezvousKeys(wiki string, secret []byte, now time.Time) (provide, lookup []cid.Cid) {
	now = now.UTC()
	today := RendezvousKey(wiki, secret, now)
	provide, lookup = []cid.Cid{today}, []cid.Cid{today}
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if now.Sub(midnight) < rendezvousWindow {
		lookup = append(lookup, RendezvousKey(wiki, secret, now.AddDate(0, 0, -1)))
	}
	if midnight.AddDate(0, 0, 1).Sub(now) <= rendezvousWindow {
		provide = append(provide, RendezvousKey(wiki, secret, now.AddDate(0, 0, 1)))
	}
	return provide, lookup
}

// Timing of rendezvous rounds: lookups start soon and back off to
// lookupEvery; a node provides again after reprovideEvery, when its
// addresses changed (a relay reservation, a new network), when its keys
// changed, and never more often than minReprovide.
const (
	firstLookup    = 2 * time.Second
	lookupEvery    = 2 * time.Minute
	reprovideEvery = 30 * time.Minute
	minReprovide   = 5 * time.Second
	// provideTimeout and lookupTimeout bound one DHT operation;
	// maxProviders bounds the providers one lookup takes.
	provideTimeout = time.Minute
	lookupTimeout  = 30 * time.Second
	maxProviders   = 64
)

// rendezvous runs rounds until ctx ends.
func (w *wan) rendezvous(ctx context.Context) {
	n := w.n
	if w.cfg.Secret == nil {
		return
	}
	changed := make(chan struct{}, 1)
	if err := n.onHostEvents([]any{new(event.EvtLocalAddressesUpdated)}, func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}); err != nil {
		n.log.Warn("rendezvous does not follow address changes", "err", err)
	}
	// One provide runs at a time (a token); it reports the keys it
	// provided, or nil when it could provide none (no address worth
	// telling yet: a relay reservation is on its way).
	token := make(chan struct{}, 1)
	token <- struct{}{}
	done := make(chan []cid.Cid, 1)
	var lastKeys []cid.Cid
	var lastTry, lastProvide time.Time
	addrsChanged := true
	wait := firstLookup
	for {
		secret := w.cfg.Secret()
		if len(secret) > 0 && len(w.dht.RoutingTable().ListPeers()) > 0 {
			provide, lookup := rendezvousKeys(n.wiki, secret, time.Now())
			due := !sameCids(provide, lastKeys) || time.Since(lastProvide) >= reprovideEvery || addrsChanged
			if due && time.Since(lastTry) >= minReprovide {
				select {
				case <-token:
					lastTry, addrsChanged = time.Now(), false
					n.wg.Add(1)
					go func() {
						defer n.wg.Done()
						keys := w.provide(ctx, provide)
						token <- struct{}{}
						select {
						case done <- keys:
						case <-ctx.Done():
						}
					}()
				default:
				}
			}
			w.lookup(ctx, lookup)
		}
		select {
		case <-ctx.Done():
			return
		case keys := <-done:
			if keys != nil {
				lastKeys, lastProvide = keys, time.Now()
			}
			continue
		case <-changed:
			addrsChanged = true
			wait = firstLookup
		case <-time.After(wait + time.Duration(rand.Int64N(int64(wait/4)+1))):
			wait = min(wait*2, lookupEvery)
		}
	}
}

// provide provides keys, and returns them, or nil when any failed.
func (w *wan) provide(ctx context.Context, keys []cid.Cid) []cid.Cid {
	if len(reachableAddrs(w.n.host.Addrs())) == 0 {
		w.n.log.Debug("rendezvous: no public or relayed address to provide yet")
		return nil
	}
	for _, k := range keys {
		pctx, cancel := context.WithTimeout(ctx, provideTimeout)
		err := w.dht.Provide(pctx, k, true)
		cancel()
		if err != nil {
			w.n.log.Debug("rendezvous: could not provide", "err", firstLine(err))
			return nil
		}
	}
	w.n.log.Debug("rendezvous: provided", "addrs", len(reachableAddrs(w.n.host.Addrs())))
	return keys
}

func (w *wan) lookup(ctx context.Context, keys []cid.Cid) {
	for _, k := range keys {
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		for info := range w.dht.FindProvidersAsync(lctx, k, maxProviders) {
			w.found(info)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
	}
}

// found dials a provider of the wiki's key, if the member list names it
// a member (anyone who once knew the key could provide it); it is kept
// connected, and remembered once connected, like any member.
func (w *wan) found(info peer.AddrInfo) {
	n := w.n
	if info.ID == n.host.ID() || !n.isMember(info.ID) || n.bans.banned(info.ID) {
		return
	}
	if n.connected(info.ID) {
		return
	}
	n.log.Info("rendezvous: found a member on the DHT", "peer", info.ID, "addrs", len(info.Addrs))
	n.keepConnected(peer.AddrInfo{ID: info.ID, Addrs: reachableAddrs(info.Addrs)})
}

func sameCids(a, b []cid.Cid) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Bytes(), b[i].Bytes()) {
			return false
		}
	}
	return true
}
