package p2p

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
)

// The limits bound what a peer can open without starving the syncs: a
// sync and an ack at once from every peer, identify per connection, and
// a laptop-sized total.
func TestHostLimits(t *testing.T) {
	l := hostLimits().ToPartialLimitConfig()
	if got := l.System.Conns; got != 256 {
		t.Errorf("system connections %v, want 256", got)
	}
	if pp := l.ProtocolPeerDefault; pp.StreamsInbound != 16 || pp.Streams != 32 {
		t.Errorf("per-peer streams of our protocols %v/%v, want 16 in, 32 in all", pp.StreamsInbound, pp.Streams)
	}
	for _, id := range []protocol.ID{identify.ID, identify.IDPush} {
		if pp, ok := l.ProtocolPeer[id]; !ok || pp.StreamsInbound != 8 {
			t.Errorf("identify %s per peer: %+v (set %v), want 8 inbound streams", id, pp, ok)
		}
	}
	if s, ok := l.Service[identify.ServiceName]; !ok || s.Streams != 128 {
		t.Errorf("identify service: %+v (set %v), want 128 streams", s, ok)
	}
}
