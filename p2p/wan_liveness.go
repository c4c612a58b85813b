package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	msmux "github.com/multiformats/go-multistream"
)

// Liveness: when a home's router gets a new public address, or a member
// moves, nothing tells either side that their connections died: the
// member's own address did not change, and packets to the old NAT
// mapping vanish. libp2p's keepalives notice after 30 s and more, and
// until then syncs and gossip go down the dead connection. A node with
// wide-area networking therefore pings (libp2p's ping protocol) each of
// its connections to members and to its relays every probeEvery, and
// closes one that does not answer within probeTimeout: the relays'
// connections are made again (AutoRelay reserves anew, and the relay
// observes the current address), and the members are redialled
// (keepConnected), through a relay if need be.
const (
	probeEvery   = 5 * time.Second
	probeTimeout = 5 * time.Second
	// maxProbes bounds the probes under way at once.
	maxProbes = 16
)

func (w *wan) probeConnections(ctx context.Context) {
	n := w.n
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	slots := make(chan struct{}, maxProbes)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, c := range n.host.Network().Conns() {
			p := c.RemotePeer()
			if !n.isMember(p) && !w.isRelay(p) {
				continue
			}
			select {
			case slots <- struct{}{}:
			default:
				continue // the rest next round
			}
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				defer func() { <-slots }()
				err := probe(ctx, c)
				if err != nil && ctx.Err() == nil {
					n.log.Debug("liveness probe", "peer", p, "err", firstLine(err))
				}
				if err != nil && isTimeoutErr(err) && ctx.Err() == nil && !c.IsClosed() {
					n.log.Info("closed a connection that stopped answering (a network change?)", "peer", p, "relayed", isRelayed(c.RemoteMultiaddr()))
					c.Close()
				}
			}()
		}
	}
}

// probe pings the peer of c once over c itself (not over whichever
// connection libp2p would pick), within probeTimeout.
func probe(ctx context.Context, c network.Conn) error {
	ctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(ctx, "liveness"), probeTimeout)
	defer cancel()
	s, err := c.NewStream(ctx)
	if err != nil {
		return err
	}
	defer s.Reset()
	if err := s.SetDeadline(time.Now().Add(probeTimeout)); err != nil {
		return err
	}
	if err := s.SetProtocol(ping.ID); err != nil {
		return err
	}
	if err := s.Scope().SetService(ping.ServiceName); err != nil {
		return err
	}
	if err := msmux.SelectProtoOrFail(protocol.ID(ping.ID), s); err != nil {
		return err
	}
	out := make([]byte, ping.PingSize)
	if _, err := rand.Read(out); err != nil {
		return err
	}
	if _, err := s.Write(out); err != nil {
		return err
	}
	in := make([]byte, ping.PingSize)
	if _, err := io.ReadFull(s, in); err != nil {
		return err
	}
	if !bytes.Equal(in, out) {
		return errors.New("ping answered wrong")
	}
	return nil
}

// isTimeoutErr reports whether err is a wait that ran out: what a dead
// path gives, unlike a refusal (a peer without the ping protocol, an
// older peerwiki) or a reset.
func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
