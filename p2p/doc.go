// Package p2p is peerwiki's replication layer: a libp2p node with the
// repo's Ed25519 identity (TCP, and QUIC beyond the LAN; Noise, Yamux)
// that talks only to members
// of the wiki's replicated member list, which package wiki keeps and p2p
// sees through the Membership interface (members.go: who may connect,
// sync and gossip; strangers may only redeem an invite, JoinProtocol);
// discovery (mDNS on the LAN, explicit and remembered peers, and beyond
// it rendezvous on a DHT, relays and hole punching: wan.go; relay.go is
// `peerwiki relay`), head gossip
// over GossipSub, and the one-round-trip sync protocol
// /peerwiki/sync/1.0.0. It also owns join codes and the small files a
// node keeps in the repo (remembered peers, the shared mark, a running
// node's lock, control socket and addresses).
//
// A repo has one running node at most: the Daemon that `serve` or the
// terminal UI runs, which holds the repo's lock and answers the repo's
// other processes on a Unix socket (NodeAPI, NodeClient). Commands run
// while none runs use a one-shot host of their own (SyncOnce,
// ConfirmOnce).
//
// It moves and validates blocks; it never decides merges. Everything it
// receives goes through history.Store.Put (CIDs, signatures, causal
// completeness, one transaction per batch), and divergences that arrive
// are handed to the caller's AfterReceive hook, which applies the wiki's
// policies. It never logs or prints an invite token, never stores
// anything from a peer that sent one bad block in the batch, and never
// lets one bad or slow peer stall the others: a connection counts only
// once its handshake is done (and then only a member's stays for more
// than a join), every read has a deadline, every frame a size limit,
// every sync a least rate of progress, and every peer at most one sync
// at a time and a share of the node's work.
package p2p
