package p2p

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// The control socket speaks HTTP/1.1 (the convention of docker's and
// ipfs's sockets: curl --unix-socket works), JSON both ways, every path
// under /v<ControlAPIVersion>/:
//
//	GET  /v1/status    NodeStatus
//	POST /v1/share     NodeStatus, once the node listens
//	GET  /v1/peers     []PeerState
//	POST /v1/sync      SyncRequest → SyncReport
//	POST /v1/confirm   ConfirmRequest → ConfirmReport
//	POST /v1/commit    commitNotice → 204 (JSON, or CBOR as a command
//	                   sends it: Content-Type application/cbor)
//	POST /v1/editing   editingRequest → 200 at once, then the response is
//	                   held open for as long as the page is edited
//
// An error is {"error": "one line", "code": "..."} with a 4xx or 5xx
// status. A request from another user than the node's is refused (403)
// whatever the socket's mode says: the kernel tells who connected
// (SO_PEERCRED).

// apiError is the body of a failed request.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// Codes of apiError callers branch on.
const (
	codeNotShared  = "not_shared"
	codeForbidden  = "forbidden"
	codeBadRequest = "bad_request"
)

var errBadRequest = errors.New("bad request")

type commitNotice struct {
	// At is when the commit was made, in unix µs.
	At int64 `json:"at" cbor:"at"`
	// Revisions are what was committed, with the blocks a heads
	// announcement inlines, when the command could tell them all
	// (history.TakeLocalCommits); the node then announces them without
	// reading them back. Without them it looks in the database.
	Revisions []noticedRevision `json:"revisions,omitempty" cbor:"revisions,omitempty"`
}

// noticedRevision is a history.LocalCommit on the control socket (its
// page goes by the revision's own block: Node.NoticeCommits).
type noticedRevision struct {
	Cid    []byte         `json:"cid" cbor:"cid"`
	Head   bool           `json:"head,omitempty" cbor:"head,omitempty"`
	Blocks []noticedBlock `json:"blocks" cbor:"blocks"`
}

type noticedBlock struct {
	Cid  []byte `json:"c" cbor:"c"`
	Data []byte `json:"d" cbor:"d"`
}

// appendCBOR appends n as cbor.Marshal writes it (RFC 8949: the
// fields in order, the shortest heads, nil as null). A command writes its
// notice this way: without base64 a quarter fewer bytes, and read by the
// node in a few microseconds where encoding/json took about 90 (a notice
// with a 3 KB page; on the edit's way to its peers, issue 14). By hand:
// a command sends one notice in its life, right after its commit, and an
// encoder's first use of a type works out its encoding by reflection
// (encoding/json's took a fifth of a millisecond there).
func (n commitNotice) appendCBOR(b []byte) []byte {
	fields := uint64(1)
	if len(n.Revisions) > 0 {
		fields++
	}
	b = appendCBORHead(b, cborMap, fields)
	b = appendCBORText(b, "at")
	if n.At >= 0 {
		b = appendCBORHead(b, cborUint, uint64(n.At))
	} else {
		b = appendCBORHead(b, cborNegative, uint64(-(n.At + 1)))
	}
	if len(n.Revisions) == 0 {
		return b
	}
	b = appendCBORText(b, "revisions")
	b = appendCBORHead(b, cborArray, uint64(len(n.Revisions)))
	for _, r := range n.Revisions {
		fields := uint64(2)
		if r.Head {
			fields++
		}
		b = appendCBORHead(b, cborMap, fields)
		b = appendCBORText(b, "cid")
		b = appendCBORBytes(b, r.Cid)
		if r.Head {
			b = appendCBORText(b, "head")
			b = append(b, cborTrue)
		}
		b = appendCBORText(b, "blocks")
		if r.Blocks == nil {
			b = append(b, cborNull)
			continue
		}
		b = appendCBORHead(b, cborArray, uint64(len(r.Blocks)))
		for _, k := range r.Blocks {
			b = appendCBORHead(b, cborMap, 2)
			b = appendCBORText(b, "c")
			b = appendCBORBytes(b, k.Cid)
			b = appendCBORText(b, "d")
			b = appendCBORBytes(b, k.Data)
		}
	}
	return b
}

// CBOR's major types and simple values (RFC 8949, section 3).
const (
	cborUint     = 0
	cborNegative = 1
	cborBytes    = 2
	cborText     = 3
	cborArray    = 4
	cborMap      = 5
	cborTrue     = 0xf5
	cborNull     = 0xf6
)

// appendCBORHead appends the head of a data item of major type major and
// argument n, in its shortest form.
func appendCBORHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= math.MaxUint8:
		return append(b, m|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

func appendCBORText(b []byte, s string) []byte {
	return append(appendCBORHead(b, cborText, uint64(len(s))), s...)
}

// appendCBORBytes appends p as a byte string, or null for nil.
func appendCBORBytes(b, p []byte) []byte {
	if p == nil {
		return append(b, cborNull)
	}
	return append(appendCBORHead(b, cborBytes, uint64(len(p))), p...)
}

// noticeDec reads a notice as strictly as the wire's frames (wireDec),
// within bounds of its own: a notice nests five deep (its revisions,
// their blocks) and may name up to 4,096 of them.
var noticeDec = func() cbor.DecMode {
	o := wireDec.DecOptions()
	o.MaxArrayElements, o.MaxNestedLevels = 4096, 8
	d, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return d
}()

func noticedRevisions(commits []history.LocalCommit) []noticedRevision {
	out := make([]noticedRevision, 0, len(commits))
	for _, c := range commits {
		nr := noticedRevision{Cid: c.Rev.Cid.Bytes(), Head: c.Rev.Head}
		for _, b := range c.Blocks {
			nr.Blocks = append(nr.Blocks, noticedBlock{Cid: b.Cid.Bytes(), Data: b.Data})
		}
		out = append(out, nr)
	}
	return out
}

// localCommits is the inverse of noticedRevisions: every CID well
// formed, every block matching its CID (the control socket is this
// user's own, but a bad notice must not put anything wrong on the wire;
// the node checks the revisions themselves).
func (n commitNotice) localCommits() ([]history.LocalCommit, error) {
	if len(n.Revisions) > maxAnnouncedHeads {
		return nil, fmt.Errorf("%w: %d revisions in a notice", errBadRequest, len(n.Revisions))
	}
	out := make([]history.LocalCommit, 0, len(n.Revisions))
	for _, nr := range n.Revisions {
		var lc history.LocalCommit
		var err error
		if lc.Rev.Cid, err = cid.Cast(nr.Cid); err != nil {
			return nil, fmt.Errorf("%w: revision: %v", errBadRequest, err)
		}
		lc.Rev.Head = nr.Head
		for _, nb := range nr.Blocks {
			c, err := cid.Cast(nb.Cid)
			if err != nil {
				return nil, fmt.Errorf("%w: block: %v", errBadRequest, err)
			}
			b := history.Block{Cid: c, Data: nb.Data}
			if err := b.Verify(); err != nil {
				return nil, fmt.Errorf("%w: block: %v", errBadRequest, err)
			}
			lc.Blocks = append(lc.Blocks, b)
		}
		out = append(out, lc)
	}
	return out, nil
}

type editingRequest struct {
	Page cid.Cid `json:"page"`
}

type uidKey struct{}

type connUID struct {
	uid uint32
	err error
}

// serveControl answers requests on l until the daemon closes.
func (d *Daemon) serveControl(l net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := d.Status(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("POST /v1/share", func(w http.ResponseWriter, r *http.Request) {
		st, err := d.Share(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("GET /v1/peers", func(w http.ResponseWriter, r *http.Request) {
		ps, err := d.Peers(r.Context())
		reply(w, ps, err)
	})
	mux.HandleFunc("POST /v1/sync", func(w http.ResponseWriter, r *http.Request) {
		var req SyncRequest
		if decode(w, r, &req) {
			rep, err := d.Sync(r.Context(), req)
			reply(w, rep, err)
		}
	})
	mux.HandleFunc("POST /v1/confirm", func(w http.ResponseWriter, r *http.Request) {
		var req ConfirmRequest
		if decode(w, r, &req) {
			rep, err := d.Confirm(r.Context(), req)
			reply(w, rep, err)
		}
	})
	mux.HandleFunc("POST /v1/commit", func(w http.ResponseWriter, r *http.Request) {
		var n commitNotice
		if decodeNotice(w, r, &n) {
			commits, err := n.localCommits()
			if err != nil {
				writeError(w, err)
				return
			}
			if err := d.noticeCommits(time.UnixMicro(n.At), commits); err != nil {
				writeError(w, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("POST /v1/editing", func(w http.ResponseWriter, r *http.Request) {
		var e editingRequest
		if !decode(w, r, &e) {
			return
		}
		if !e.Page.Defined() {
			writeError(w, fmt.Errorf("%w: no page", errBadRequest))
			return
		}
		done, err := d.Editing(r.Context(), e.Page)
		if err != nil {
			writeError(w, err)
			return
		}
		defer done()
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done(): // the editor is done, or its process died
		case <-d.ctx.Done():
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(apiError{Error: fmt.Sprintf("no such request %s %s: this node speaks version %d of the control API (/v%d/)",
			r.Method, r.URL.Path, ControlAPIVersion, ControlAPIVersion)})
	})
	d.srv = &http.Server{
		Handler:           d.ownerOnly(mux),
		ReadHeaderTimeout: 5 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			uid, err := peerUID(c)
			return context.WithValue(ctx, uidKey{}, connUID{uid, err})
		},
		BaseContext: func(net.Listener) context.Context { return d.ctx },
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.srv.Serve(l)
	}()
}

// ownerOnly refuses requests from processes of other users than the
// node's.
func (d *Daemon) ownerOnly(h http.Handler) http.Handler {
	me := uint32(os.Getuid())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(uidKey{}).(connUID)
		if c.err != nil || c.uid != me {
			d.log.Warn("refused a control request from another user", "uid", c.uid, "err", c.err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(apiError{Error: fmt.Sprintf("the node on this repo answers only its own user (uid %d)", me), Code: codeForbidden})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// decode reads a request's JSON body into v, or answers 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, 1<<20)
	if err := json.NewDecoder(body).Decode(v); err != nil {
		writeError(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return false
	}
	// Read to the end: only then does the server watch the connection,
	// and end the request's context when the client goes away (a held
	// editing request whose process died).
	io.Copy(io.Discard, body)
	return true
}

// decodeNotice is decode for a commit notice, which comes as CBOR from a
// command of this version and as JSON from an older one.
func decodeNotice(w http.ResponseWriter, r *http.Request, n *commitNotice) bool {
	if r.Header.Get("Content-Type") != "application/cbor" {
		return decode(w, r, n)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err == nil {
		err = noticeDec.Unmarshal(body, n)
	}
	if err != nil {
		writeError(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	e, status := apiError{Error: err.Error()}, http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotShared):
		e.Code, status = codeNotShared, http.StatusConflict
	case errors.Is(err, errBadRequest):
		e.Code, status = codeBadRequest, http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(e)
}
