package reconcile

import (
	"errors"
	"fmt"
)

// Limits of a session (see the package documentation, "Bounds").
const (
	// MaxItems bounds a set, ours or the peer's (as it declares it).
	MaxItems = 1 << 22
	// MinFrameSize, DefaultFrameSize and MaxFrameSize bound a message.
	// Both sides use the smaller of their limits, agreed in the first
	// two messages. A side's memory grows with the limit (see the
	// package documentation, "Bounds").
	MinFrameSize     = 64 << 10
	DefaultFrameSize = 1 << 20
	MaxFrameSize     = DefaultFrameSize
	// Branches is how many ranges a side splits a range into when the
	// fingerprints differ.
	Branches = 8
	// LeafItems is the most items a side lists instead of splitting a
	// range whose fingerprints differ.
	LeafItems = 8
	// SmallSet is the most items the first message lists outright (as
	// the sync of old did with every head): a small set is reconciled in
	// one round trip.
	SmallSet = 256
	// openPerFrame sets the most open ranges (questions and deferrals) a
	// message may carry: the frame limit divided by it.
	openPerFrame = 16
	// openHeadroom is how far under that bound a side stays when it is
	// not forced: the room a depth-first descent needs (see build).
	openHeadroom = 256
)

var (
	// ErrRounds is returned when a session takes more messages than its
	// bound (Stats.MaxMessages): the peer does not converge.
	ErrRounds = errors.New("reconcile: too many rounds")
	// ErrTooLarge is returned for a set larger than MaxItems, ours or the
	// one the peer declares: a refusal, not the peer's fault.
	ErrTooLarge = errors.New("reconcile: set too large")
	// ErrDone is returned by Reply on a session that is over.
	ErrDone = errors.New("reconcile: session is over")
)

// Config sets up one side of a session. The zero value is valid (and the
// salt all zeros, which only a test should use).
type Config struct {
	// Salt keys the session's fingerprints. The initiator draws it from
	// crypto/rand for every session; the responder takes the initiator's
	// and ignores this field.
	Salt [SaltSize]byte
	// FrameSize bounds every message, both ways: 0 means
	// DefaultFrameSize; it is clamped to [MinFrameSize, MaxFrameSize].
	FrameSize int
}

// Step is what a side learnt from a message and what it answers.
type Step struct {
	// Msg is the message to send to the peer; nil when there is nothing
	// to send (the session is over).
	Msg []byte
	// Have are keys of ours that the peer lacks, and Need keys of the
	// peer's that we lack, learnt from this message. Over a whole session
	// each key is reported once, and the reports add up to the exact
	// difference of the two sets (barring a fingerprint collision).
	Have, Need []Key
	// Done is true when the session is over for this side once Msg (if
	// any) is sent: the peer will send nothing more.
	Done bool
}

// Stats counts a session's traffic from one side.
type Stats struct {
	Sent, Received int // payload bytes
	Messages       int // messages sent
	MaxMessages    int // the bound on Messages (0 until the peer's size is known)
}

// Initiator is the side that opens a session.
type Initiator struct{ s session }

// Responder is the side that answers a session's first message.
type Responder struct{ s session }

// NewInitiator returns the opening side of a session over set, and the
// first message to send.
func NewInitiator(set Set, cfg Config) (*Initiator, []byte, error) {
	in := &Initiator{}
	if err := in.s.init(set, cfg); err != nil {
		return nil, nil, err
	}
	in.s.salt = cfg.Salt
	in.s.phase = awaitAccept
	out := appendStart(nil, start{salt: in.s.salt, n: in.s.n, frame: in.s.frame})
	mode := modeFingerprint
	if in.s.n <= SmallSet {
		mode = modeIdList
	}
	var err error
	out, err = in.s.ask(out, bound{}, endBound, mode)
	if err != nil {
		return nil, nil, err
	}
	in.s.regions, in.s.next = in.s.next, nil // the first message is one question, laid out as asked
	in.s.stats.Messages = 1
	in.s.stats.Sent = len(out)
	return in, out, nil
}

// NewResponder returns the answering side of a session over set.
func NewResponder(set Set, cfg Config) (*Responder, error) {
	r := &Responder{}
	if err := r.s.init(set, cfg); err != nil {
		return nil, err
	}
	r.s.phase = awaitStart
	return r, nil
}

// Reply takes the peer's message and returns what to send back and what
// this side learnt. An error ends the session: ErrMalformed (the peer
// broke the protocol), ErrRounds, ErrTooLarge, ErrVersion, or the Set's
// own error.
func (in *Initiator) Reply(msg []byte) (Step, error) { return in.s.reply(msg) }

// Done reports whether the session is over.
func (in *Initiator) Done() bool { return in.s.phase == over }

// Stats returns the session's traffic so far.
func (in *Initiator) Stats() Stats { return in.s.stats }

// Reply takes the peer's message and returns what to send back and what
// this side learnt; see Initiator.Reply.
func (r *Responder) Reply(msg []byte) (Step, error) { return r.s.reply(msg) }

// Done reports whether the session is over.
func (r *Responder) Done() bool { return r.s.phase == over }

// Stats returns the session's traffic so far.
func (r *Responder) Stats() Stats { return r.s.stats }

type phase int

const (
	awaitStart  phase = iota // responder, before the first message
	awaitAccept              // initiator, before the first reply
	running
	over
)

// modeStart marks the range the initiator's first message covers (the
// whole key space), which must be all questions.
const modeStart = numModes

// region is a range this side's last message left open: the peer's next
// message must cover each, in order, with pieces mode allows.
type region struct {
	lo, hi bound
	mode   byte // what we sent: modeFingerprint, modeIdList, modeDefer, modeStart
}

// job is an open piece of the peer's message: a range this side's next
// message must cover.
type job struct {
	lo, hi   bound
	mode     byte // the peer's piece: modeFingerprint, modeIdList or modeDefer
	answered bool // not deferred
	fp       [FingerprintSize]byte
	ids      keyList  // the peer's keys, pointing into its message
	out      [2]int32 // the answer's bytes in session.scratch
	regions  [2]int32 // the ranges it leaves open, in session.next
}

type session struct {
	set     Set
	n       int
	salt    [SaltSize]byte
	frame   int
	peerN   int
	phase   phase
	regions []region // what the peer's next message must cover
	jobs    []job
	// Scratch space of build: the answers in the order they were chosen,
	// the ranges they leave open, the choosing order.
	scratch []byte
	next    []region
	order   []int
	needs   int // keys reported as needed so far
	stats   Stats
	err     error
	keys    []Key // scratch
}

func (s *session) init(set Set, cfg Config) error {
	s.set = set
	s.n = set.Len()
	if s.n > MaxItems {
		return fmt.Errorf("%w: %d items, at most %d", ErrTooLarge, s.n, MaxItems)
	}
	s.frame = min(max(cfg.FrameSize, MinFrameSize), MaxFrameSize)
	if cfg.FrameSize == 0 {
		s.frame = DefaultFrameSize
	}
	return nil
}

func (s *session) reply(msg []byte) (Step, error) {
	if s.err != nil {
		return Step{}, s.err
	}
	if s.phase == over {
		return Step{}, ErrDone
	}
	st, err := s.step(msg)
	if err != nil {
		s.err = err
		s.phase = over
		return Step{}, err
	}
	return st, nil
}

func (s *session) step(msg []byte) (Step, error) {
	s.stats.Received += len(msg)
	if len(msg) > s.frame {
		return Step{}, malformed("message of %d bytes, over the limit of %d", len(msg), s.frame)
	}
	r := reader{b: msg}
	var out []byte
	switch s.phase {
	case awaitStart:
		st, err := r.start()
		if err != nil {
			return Step{}, err
		}
		s.salt, s.peerN, s.frame = st.salt, st.n, min(s.frame, st.frame)
		s.regions = append(s.regions[:0], region{hi: endBound, mode: modeStart})
		out = appendAccept(nil, s.n, s.frame)
	case awaitAccept:
		n, f, err := r.accept(s.frame)
		if err != nil {
			return Step{}, err
		}
		s.peerN, s.frame = n, f
	}
	if s.phase != running {
		s.phase = running
		s.stats.MaxMessages = maxMessages(s.n, s.peerN, s.frame)
	}
	var step Step
	if err := s.read(&r, &step); err != nil {
		return Step{}, err
	}
	if len(s.jobs) == 0 {
		// The peer's message left nothing open: it expects no answer.
		s.phase = over
		step.Done = true
		return step, nil
	}
	if s.stats.Messages >= s.stats.MaxMessages {
		return Step{}, fmt.Errorf("%w: %d messages sent, the bound for sets of %d and %d items", ErrRounds, s.stats.Messages, s.n, s.peerN)
	}
	out, err := s.build(out, &step)
	if err != nil {
		return Step{}, err
	}
	s.stats.Messages++
	s.stats.Sent += len(out)
	step.Msg = out
	if len(s.regions) == 0 {
		s.phase = over
		step.Done = true
	}
	return step, nil
}

// maxMessages bounds how many messages one side sends in a session
// between sets of a and b items with the given frame limit: twice the
// depth of the range tree (the two sides split in turn), the messages the
// differing keys need when at most every one differs, and a margin for
// deferrals.
func maxMessages(a, b, frame int) int {
	depth := 1
	for n := max(a, b); n > LeafItems; n = (n + Branches - 1) / Branches {
		depth++
	}
	transfer := ((a+b)*(KeySize+KeySize/2) + frame - 1) / frame
	return 2*depth + 2*transfer + 8
}

// PeerSize is the size of the peer's set as it declared it (0 until its
// first message is read).
func (in *Initiator) PeerSize() int { return in.s.peerN }

// PeerSize is the size of the peer's set as it declared it (0 until its
// first message is read).
func (r *Responder) PeerSize() int { return r.s.peerN }
