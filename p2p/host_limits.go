package p2p

import (
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
)

// hostLimits is the resource manager's configuration: libp2p's defaults
// scaled to the machine, bounded for a laptop, with limits of our own for
// what this host runs.
//
// Besides our protocols (sync, ack, join) and pubsub, which fall under the
// protocol-per-peer default, the basic host runs one service, identify:
// a connection needs a stream or two of it (the request, and a push when
// our addresses change), and a wiki has tens of members, not thousands.
// No relay, hole punching, AutoNAT or ping runs here, so none gets limits
// (wide-area networking's are wanLimits).
func hostLimits() rcmgr.ConcreteLimitConfig {
	limits := rcmgr.DefaultLimits
	addIdentify(&limits)
	return rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{ConnsInbound: 128, ConnsOutbound: 128, Conns: 256, StreamsInbound: 2048, Streams: 4096},
		// Syncs use one stream each; gossip one more per peer.
		ProtocolPeerDefault: rcmgr.ResourceLimits{StreamsInbound: 16, StreamsOutbound: 16, Streams: 32},
	}.Build(limits.AutoScale())
}

// addIdentify adds identify's limits: a connection needs a stream or two
// of it.
func addIdentify(limits *rcmgr.ScalingLimitConfig) {
	service := rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20}
	perPeer := rcmgr.BaseLimit{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 1 << 20}
	limits.AddServiceLimit(identify.ServiceName, service, rcmgr.BaseLimitIncrease{})
	limits.AddServicePeerLimit(identify.ServiceName, perPeer, rcmgr.BaseLimitIncrease{})
	for _, id := range []protocol.ID{identify.ID, identify.IDPush} {
		limits.AddProtocolLimit(id, service, rcmgr.BaseLimitIncrease{})
		limits.AddProtocolPeerLimit(id, perPeer, rcmgr.BaseLimitIncrease{})
	}
}
