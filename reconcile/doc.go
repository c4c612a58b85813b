// Package reconcile finds the difference of two sets held by two peers,
// exchanging bytes in proportion to the difference rather than to the
// sets: range-based set reconciliation (Aljoscha Meyer, "Range-Based Set
// Reconciliation", arXiv 2212.13567; the method of Negentropy and
// iroh-docs). peerwiki reconciles two replicas' sets of (page, head)
// pairs with it.
//
// It is a pure state machine, like merge/: no I/O, no network, no
// clock, no goroutines, nothing random of its own, and only the standard
// library. A side is fed the peer's messages and returns the messages to
// send and what it learnt; moving the bytes, and fetching the blocks the
// difference names, is the caller's.
//
// # Use
//
//	in, msg, err := reconcile.NewInitiator(set, reconcile.Config{Salt: fresh})
//	// send msg; then for each message m from the peer:
//	st, err := in.Reply(m) // st.Have: ours it lacks; st.Need: its we lack
//	// send st.Msg unless it is nil; stop after st.Done
//
// The responder does the same with NewResponder and Responder.Reply
// from the first message on. The initiator draws Salt from crypto/rand
// for every session.
//
// # Items
//
// An item is a Key: 32 bytes, ordered bytewise; a set holds a key once.
// What the package needs of a key is only that order and Digest, the
// SHA-512 of the key, which a store keeps (or keeps sums of) so that a
// range's fingerprint costs a subtraction. Keys spread over the key space
// make the shortest range bounds; keys that share long prefixes still
// work, with longer bounds. For a replica's (page, head) pairs the caller
// should use SHA-256(page)[:8] || SHA-256(page || head)[:24]: a page's
// heads then sit side by side, so an edit elsewhere (one head replaced by
// another) is one difference to find, not two.
//
// A Set is read by position: Len, Search, Keys and Sum over a range of
// positions. MemSet keeps the keys and the prefix sums of their digests
// in memory (Sum in O(1), Search in O(log n)); a store can answer the
// same from an index that keeps sums per node.
//
// # How a session goes
//
// The initiator's first message covers the whole key space with one
// fingerprint of its set (or, for a set of at most SmallSet items, the
// list of its keys). Each message then answers, range by range, the
// ranges the previous one left open:
//
//   - a fingerprint equal to ours: the range is settled (Skip);
//   - a different fingerprint: our keys in the range if we hold at most
//     LeafItems of them, else our fingerprints of Branches sub-ranges
//     with as many of our items each;
//   - a list of keys: the answer, our keys that are not in the list and
//     one bit per listed key that we lack, which settles the range for
//     both sides; an answer too large for the frame covers the front of
//     the range and asks about the rest with a fingerprint;
//   - anything that does not fit in the frame: deferred, to be asked
//     again by the other side.
//
// A side is done when a message leaves no range open: the side that
// sends it stops after sending, the side that receives it sends nothing.
//
// # Guarantees
//
// Between two sides that follow the protocol, the keys reported in
// Step.Have and Step.Need over a session are exactly the difference of
// the two sets, each key once, unless two different subsets of a range
// have the same 16-byte fingerprint (see Fingerprints). Equal sets take
// one round trip and about 50 bytes; a set of at most SmallSet items, one
// round trip; k differences among n items, about k·Branches·21·log8(n)
// bytes (k·32 for the keys themselves, fingerprints shared near the
// root) in about log8(n/LeafItems)+1 round trips. BENCHMARKS.md has the
// measured figures.
//
// Against a peer that does not follow it, a side never panics and holds
// memory in proportion to the frame limit; it returns an error
// (ErrMalformed, ErrRounds, ErrTooLarge, ErrVersion) and stops at the
// first message that breaks a rule or a bound. A lying peer can make a
// side learn less (a peer can always withhold), never report a key it
// holds as needed, or a key it does not hold as one it has: answers are
// checked against the side's own set, and needed keys never exceed the
// size the peer declared.
//
// # Fingerprints
//
// A range's fingerprint is the first 16 bytes of
//
//	SHA-256("peerwiki/reconcile/range/1\x00" || salt || sum || uvarint(count))
//
// where sum is the sum modulo 2^512 of the items' digests, Digest(key) =
// SHA-512("peerwiki/reconcile/item/1\x00" || key) read as a 512-bit
// little-endian number, and salt is the session's. A sum is what makes
// a range's fingerprint cheap (prefix sums, or sums kept in an index),
// and the choice of sum is what decides whether a member of the wiki,
// who picks the keys of what it writes by grinding revisions, can make
// two different sets look alike:
//
//   - XOR of the keys (or of their hashes) is linear over GF(2): from
//     about 512 candidate items, Gaussian elimination finds a subset that
//     XORs to any target. Useless against a member.
//   - A sum of the raw keys, or of 256-bit hashes (Negentropy's choice),
//     falls to Wagner's generalized birthday attack: k items summing to a
//     target modulo 2^m cost about k·2^(m/(1+log2 k)) candidates; for
//     m = 256 and k = 2^15, some 2^31 signed revisions, within one
//     member's reach in days.
//   - A sum modulo 2^512 needs, with k at most MaxItems = 2^22 items in a
//     range, about 2^44 signed revisions and four million heads in one
//     range: out of reach. The count is hashed in as well.
//
// The 16 bytes are enough against chance (2^-128 a comparison), and the
// salt makes them enough against intent: two sets whose truncated
// fingerprints collide cost 2^64 hashes to find, and with a fresh salt
// per session, drawn by the initiator, they cannot be found before the
// session, nor during it by a member who is not one of its two sides.
// A collision that did happen would hide one range's difference for one
// session, which the next session (a new salt) finds; it never corrupts
// anything.
//
// # Bounds
//
//   - A message is at most the frame limit: the smaller of the two sides'
//     Config.FrameSize (default and most 1 MiB, least 64 KiB), agreed in
//     the first two messages. A larger one is an error.
//   - A message leaves at most frame/16 ranges open (65,536 at 1 MiB).
//     A side's memory, beyond its Set, is those ranges and the scratch of
//     one message: about 260 bytes a range, so at most about 18 times
//     the frame limit (18 MiB at 1 MiB) against a hostile peer, and in
//     proportion to the difference between honest ones.
//   - Each side sends at most 2·D + 2·⌈48·(a+b)/frame⌉ + 8 messages
//     (Stats.MaxMessages), with a and b the two set sizes (each at most
//     MaxItems; the peer's as it declares it) and D the depth of the
//     range tree, 1 + ⌈log8(max(a, b)/LeafItems)⌉: twice the depth (the
//     sides split in turn), the frames every key and its share of
//     fingerprints need when every key differs, and a margin. For two
//     sets of 100,000 items and 1 MiB frames, 40 messages. A peer that
//     never converges (one that splits by key forever, or defers
//     everything) gets ErrRounds at that bound.
//   - Keys reported as needed are at most the size the peer declared.
//
// # Wire format
//
// Integers are unsigned varints (encoding/binary's Uvarint, canonical:
// no overlong encodings). A key is its 32 bytes.
//
//	first message   = version(1 byte, 1) salt(16) n frame pieces
//	first reply     = n frame pieces
//	later messages  = pieces
//
// n is the sender's set size (at most MaxItems), frame its frame limit
// (the reply's is the agreed one, at most the initiator's). The pieces
// cover, in order, every range the previous message left open (for the
// first message, the whole key space): each such range is split into one
// or more pieces, the upper bound of each but the last given, the last
// ending where the range ends.
//
//	piece  = header [bound] payload
//	header = mode·33 + L, L = length of the bound (0: none, last piece)
//	bound  = the bound's first L bytes (1..32), the last one non-zero;
//	         the key it stands for has zeros after them
//
//	mode 0 skip         (no payload)        the range needs nothing more
//	mode 1 fingerprint  16 bytes            the sender's fingerprint
//	mode 2 id list      count key*          every key the sender holds in it
//	mode 3 answer       count key* m bits   the keys the sender holds that
//	                                        the list lacks, then one bit for
//	                                        each of the m keys listed there
//	                                        (least significant first, padded
//	                                        with zeros to a byte): set when
//	                                        the sender lacks that key
//	mode 4 defer        (no payload)        not handled now; the other side
//	                                        asks again
//
// Bounds increase strictly within a range and lie strictly inside it;
// keys in a piece increase strictly and lie inside the piece. Fingerprint
// and id list pieces are questions and defer pieces leave ranges open:
// these are the ranges the next message covers. Which pieces may answer
// a range depends on what was sent for it:
//
//	fingerprint  whole: skip, defer or id list; split: fingerprints and id lists
//	id list      skips and answers, the last piece may be a fingerprint
//	             (the rest of a long answer); or, whole, defer
//	defer        whole: defer; whole or split: fingerprints and id lists
//	(the start)  fingerprints and id lists
//
// A fingerprint answered whole by a fingerprint would go round forever,
// and is an error.
package reconcile
