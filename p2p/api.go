package p2p

import (
	"context"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"peerwiki/history"
)

// NodeAPI is what the one node running on a repo does for the repo's
// other processes. The Daemon implements it in its own process, and a
// NodeClient in any other, over the repo's control socket; the two
// answer alike, so a caller (the CLI, the terminal UI, a web server) does
// not care which it holds.
type NodeAPI interface {
	// Status says what the node is and does now.
	Status(ctx context.Context) (NodeStatus, error)
	// Share starts listening and LAN discovery on a wiki never shared
	// before (the terminal UI starts without them), remembers that the
	// wiki is shared, and returns the status with the node's addresses.
	Share(ctx context.Context) (NodeStatus, error)
	// Peers lists the replicas the node knows: remembered, connected, or
	// both.
	Peers(ctx context.Context) ([]PeerState, error)
	// Sync runs one sync with the replicas req names, or without names
	// with every replica the node is connected to or remembers.
	Sync(ctx context.Context, req SyncRequest) (SyncReport, error)
	// Confirm asks replicas for signed statements that they hold
	// req.Revs, until req.Need of them answered or req.Wait passed.
	Confirm(ctx context.Context, req ConfirmRequest) (ConfirmReport, error)
	// CommitNotice tells the node that this repo committed revisions at
	// committed, so that it announces them now rather than when it
	// notices the database changed; commits, when not nil, are those
	// revisions with their blocks (history.Store.TakeLocalCommits), which
	// it then announces as they are.
	CommitNotice(ctx context.Context, committed time.Time, commits []history.LocalCommit) error
	// Editing tells the other replicas that page is open in an editor
	// here, until done is called (or the caller's process ends).
	Editing(ctx context.Context, page cid.Cid) (done func(), err error)
}

// ControlAPIVersion is the version of the control socket's protocol: its
// requests are paths under /v1/.
const ControlAPIVersion = 1

// NodeStatus is what a running node reports about itself.
type NodeStatus struct {
	API  int    `json:"api"`
	PID  int    `json:"pid"`
	Kind string `json:"kind"` // who runs it: "peerwiki serve", "the terminal UI"
	// Socket is the control socket's path.
	Socket string  `json:"socket"`
	PeerID peer.ID `json:"peer_id"`
	// Shared: the wiki was shared (an invite made, the repo joined, or
	// replicas remembered). Online: the node listens and syncs; a
	// terminal UI on a wiki never shared is not online until it is.
	Shared bool `json:"shared"`
	Online bool `json:"online"`
	// Addrs are the addresses the node listens on, dialable ones first,
	// each ending in /p2p/PEERID.
	Addrs    []ma.Multiaddr `json:"addrs"`
	MDNS     bool           `json:"mdns"`
	Started  time.Time      `json:"started"`
	Peers    int            `json:"peers"` // connected replicas
	LastSync time.Time      `json:"last_sync"`
	// Via counts the connected replicas by how they are connected
	// (ViaLAN, ViaDirect, ViaHolePunched, ViaRelayed).
	Via map[string]int `json:"via,omitempty"`
}

// PeerState is one replica as this repo knows it.
type PeerState struct {
	ID   peer.ID `json:"peer_id"`
	Name string  `json:"name,omitempty"`
	// Addrs are where it listens (from its own announcement, never the
	// port of a connection it opened).
	Addrs      []ma.Multiaddr `json:"addrs"`
	Remembered bool           `json:"remembered"`
	Connected  bool           `json:"connected"`
	// Since is when the current connection was made (zero: none).
	Since    time.Time `json:"since"`
	LastSeen time.Time `json:"last_seen"`
	// Via says how it is connected: ViaLAN, ViaDirect, ViaHolePunched
	// or ViaRelayed (empty while not connected).
	Via string `json:"via,omitempty"`
}

// SyncRequest is one sync, both ways, with some replicas.
type SyncRequest struct {
	// Peers to sync with; none: every replica the node is connected to or
	// remembers (and, where discovery is on, finds on the LAN).
	Peers []peer.AddrInfo `json:"peers"`
	// Timeout bounds reaching a replica.
	Timeout time.Duration `json:"timeout"`
	// MDNS looks for replicas on the LAN as well (a one-shot sync; a
	// node looks when it runs discovery).
	MDNS bool `json:"mdns"`
}

// SyncReport is what a sync did with each replica it tried.
type SyncReport struct {
	Peers     []PeerSync    `json:"peers"`
	Conflicts []cid.Cid     `json:"conflicts"`
	Duration  time.Duration `json:"duration"`
	// Searched is how long the LAN was searched (zero: not at all).
	Searched time.Duration `json:"searched"`
}

// PeerSync is one replica's part of a SyncReport.
type PeerSync struct {
	Peer     peer.ID `json:"peer_id"`
	Name     string  `json:"name,omitempty"`
	Reached  bool    `json:"reached"`
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	// History counts revisions of history a shallow replica fetched
	// after the sync.
	History int `json:"history,omitempty"`
	// Err says why it was not reached or why the sync failed; Waited is
	// how long it was tried when the whole time passed (zero when it
	// failed sooner); Busy marks a replica that cut the connection
	// short for want of room.
	Err    string        `json:"err,omitempty"`
	Waited time.Duration `json:"waited,omitempty"`
	Busy   bool          `json:"busy,omitempty"`
}

// Reached are the replicas a report's sync reached.
func (r SyncReport) Reached() []PeerSync {
	return filter(r.Peers, func(p PeerSync) bool { return p.Reached })
}

func filter[T any](xs []T, keep func(T) bool) []T {
	var out []T
	for _, x := range xs {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

// ConfirmRequest asks replicas to confirm that they hold revisions.
type ConfirmRequest struct {
	Revs []cid.Cid     `json:"revs"`
	Need int           `json:"need"`
	Wait time.Duration `json:"wait"`
}

// ConfirmReport says which replicas confirmed, and why the others did
// not.
type ConfirmReport struct {
	Replicas []ReplicaAck  `json:"replicas"`
	Waited   time.Duration `json:"waited"`
}

// ReplicaAck is one replica's answer to a ConfirmRequest.
type ReplicaAck struct {
	Peer      peer.ID `json:"peer_id"`
	Name      string  `json:"name,omitempty"`
	Confirmed bool    `json:"confirmed"`
	// Why it did not confirm, in words ("did not answer within 10s").
	Why string `json:"why,omitempty"`
}

// Confirmed are the replicas that confirmed.
func (r ConfirmReport) Confirmed() []ReplicaAck {
	return filter(r.Replicas, func(a ReplicaAck) bool { return a.Confirmed })
}
