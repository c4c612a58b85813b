package p2p

import (
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
)

// mdnsNotifee dials peers found on the LAN. Both peers learn of each
// other within the same millisecond, so only the one with the lower peer
// id dials at once; the other dials after a pause if still unconnected.
type mdnsNotifee struct{ n *Node }

func (m mdnsNotifee) HandlePeerFound(info peer.AddrInfo) {
	n := m.n
	// Only members: nothing but a join is exchanged with anyone else.
	if info.ID == n.host.ID() || n.ctx.Err() != nil || n.bans.banned(info.ID) || !n.isMember(info.ID) {
		return
	}
	n.mu.Lock()
	if n.found == nil {
		n.found = map[peer.ID]bool{}
	}
	if n.found[info.ID] && n.host.Network().Connectedness(info.ID) == network.Connected {
		n.mu.Unlock()
		return
	}
	n.found[info.ID] = true
	n.mu.Unlock()
	n.emit(Event{Kind: EventFound, Peer: info.ID})
	n.host.Peerstore().AddAddrs(info.ID, info.Addrs, 10*time.Minute)
	if n.host.ID() > info.ID {
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(time.Second + time.Duration(rand.Int64N(int64(time.Second)))):
		}
		if n.host.Network().Connectedness(info.ID) == network.Connected {
			return
		}
	}
	if err := n.Connect(n.ctx, info); err != nil {
		n.log.Debug("could not dial a peer found by mDNS", "peer", info.ID, "err", firstLine(err))
		n.mu.Lock()
		delete(n.found, info.ID)
		n.mu.Unlock()
		return
	}
	n.log.Info("connected to a peer found on the LAN", "peer", info.ID)
}

func (n *Node) startMDNS() error {
	quietStdLog()
	svc := mdns.NewMdnsService(n.host, n.cfg.MDNSService, mdnsNotifee{n})
	if err := svc.Start(); err != nil {
		return err
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		<-n.ctx.Done()
		svc.Close()
	}()
	return nil
}
