package p2p

import (
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/autonat"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	circuitproto "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// dhtProtocol is the Kademlia DHT's protocol (go-libp2p-kad-dht's
// default prefix, the IPFS Amino DHT's).
const dhtProtocol = protocol.ID("/ipfs/kad/1.0.0")

// wanLimits are hostLimits with room for what wide-area networking runs
// on a member's node: the hole punching service (a stream a relayed
// connection), AutoNAT's client (a stream a probe), relayed connections
// (one STOP stream each, from the node's relays), liveness pings and the
// DHT client (its
// queries are outbound; a member serves no DHT requests).
func wanLimits() rcmgr.ConcreteLimitConfig {
	limits := rcmgr.DefaultLimits
	small := rcmgr.BaseLimit{StreamsInbound: 16, StreamsOutbound: 16, Streams: 32, Memory: 4 << 20}
	perPeer := rcmgr.BaseLimit{StreamsInbound: 2, StreamsOutbound: 2, Streams: 4, Memory: 1 << 20}
	for _, svc := range []string{holepunch.ServiceName, autonat.ServiceName, ping.ServiceName} {
		limits.AddServiceLimit(svc, small, rcmgr.BaseLimitIncrease{})
		limits.AddServicePeerLimit(svc, perPeer, rcmgr.BaseLimitIncrease{})
	}
	for _, p := range []protocol.ID{holepunch.Protocol, autonat.AutoNATProto, ping.ID} {
		limits.AddProtocolLimit(p, small, rcmgr.BaseLimitIncrease{})
		limits.AddProtocolPeerLimit(p, perPeer, rcmgr.BaseLimitIncrease{})
	}
	// Relayed connections arrive one STOP stream each: a wiki has tens
	// of members, each a connection or two.
	limits.AddProtocolLimit(circuitproto.ProtoIDv2Stop, rcmgr.BaseLimit{StreamsInbound: 64, Streams: 64, Memory: 4 << 20}, rcmgr.BaseLimitIncrease{})
	limits.AddProtocolPeerLimit(circuitproto.ProtoIDv2Stop, rcmgr.BaseLimit{StreamsInbound: 32, Streams: 32, Memory: 1 << 20}, rcmgr.BaseLimitIncrease{})
	limits.AddProtocolLimit(dhtProtocol, rcmgr.BaseLimit{StreamsOutbound: 256, Streams: 256, Memory: 16 << 20}, rcmgr.BaseLimitIncrease{})
	limits.AddProtocolPeerLimit(dhtProtocol, rcmgr.BaseLimit{StreamsOutbound: 16, Streams: 16, Memory: 1 << 20}, rcmgr.BaseLimitIncrease{})
	return withIdentify(limits)
}

// withIdentify is the rest of hostLimits over limits.
func withIdentify(limits rcmgr.ScalingLimitConfig) rcmgr.ConcreteLimitConfig {
	addIdentify(&limits)
	return rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{ConnsInbound: 128, ConnsOutbound: 256, Conns: 384, StreamsInbound: 2048, Streams: 4096},
		// Syncs use one stream each; gossip one more per peer.
		ProtocolPeerDefault: rcmgr.ResourceLimits{StreamsInbound: 16, StreamsOutbound: 16, Streams: 32},
	}.Build(limits.AutoScale())
}

// relayLimits are the resource manager's limits of a relay (peerwiki
// relay): a relayed connection is a HOP stream from its dialer and a
// STOP stream to its target, each with relayBuffer bytes twice; the
// relay service's own caps (relayResources) come first, and these bound
// what the rest (the DHT, identify, AutoNAT) can take.
func relayLimits() rcmgr.ConcreteLimitConfig {
	limits := rcmgr.DefaultLimits
	rc := relayResources()
	circuits := rc.MaxReservations * rc.MaxCircuits
	svcMem := int64(circuits) * int64(4*rc.BufferSize+(64<<10))
	limits.AddServiceLimit(relay.ServiceName, rcmgr.BaseLimit{StreamsInbound: circuits, StreamsOutbound: circuits, Streams: 2 * circuits, Memory: svcMem}, rcmgr.BaseLimitIncrease{})
	limits.AddServicePeerLimit(relay.ServiceName, rcmgr.BaseLimit{StreamsInbound: rc.MaxCircuits + 2, StreamsOutbound: rc.MaxCircuits * 2, Streams: rc.MaxCircuits*3 + 2, Memory: int64(rc.MaxCircuits) * int64(4*rc.BufferSize+(64<<10))}, rcmgr.BaseLimitIncrease{})
	// The DHT server: a client asks a query or two at a time.
	limits.AddProtocolLimit(dhtProtocol, rcmgr.BaseLimit{StreamsInbound: 512, StreamsOutbound: 256, Streams: 768, Memory: 64 << 20}, rcmgr.BaseLimitIncrease{})
	limits.AddProtocolPeerLimit(dhtProtocol, rcmgr.BaseLimit{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 2 << 20}, rcmgr.BaseLimitIncrease{})
	for _, svc := range []string{autonat.ServiceName, ping.ServiceName} {
		limits.AddServiceLimit(svc, rcmgr.BaseLimit{StreamsInbound: 256, Streams: 256, Memory: 4 << 20}, rcmgr.BaseLimitIncrease{})
		limits.AddServicePeerLimit(svc, rcmgr.BaseLimit{StreamsInbound: 2, Streams: 2, Memory: 1 << 20}, rcmgr.BaseLimitIncrease{})
	}
	addIdentify(&limits)
	return rcmgr.PartialLimitConfig{
		System:              rcmgr.ResourceLimits{ConnsInbound: 1024, ConnsOutbound: 256, Conns: 1280, StreamsInbound: 8192, Streams: 16384, Memory: 1 << 30},
		ProtocolPeerDefault: rcmgr.ResourceLimits{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16},
		PeerDefault:         rcmgr.ResourceLimits{ConnsInbound: 8, Conns: 16, StreamsInbound: 64, Streams: 128},
	}.Build(limits.AutoScale())
}
