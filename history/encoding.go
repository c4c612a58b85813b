package history

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// deltaMaxDepth bounds storage delta chains so a read never rebuilds more
// than this many versions of a body.
const deltaMaxDepth = 24

// Block storage encodings (blocks.enc).
const (
	encPlain     = 0
	encZstd      = 1
	encDeltaZstd = 2
	encDelta     = 3
)

var (
	// zenc compresses blocks and the search index's copy of page text.
	// The fastest level: on this history the repo is 1% larger than with
	// the default level, and a command's first use of the encoder (its
	// tables) costs 0.35 ms instead of 1.3, which was a tenth of an edit.
	zenc *zstd.Encoder
	zdec *zstd.Decoder
)

func init() {
	var err error
	if zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20)); err != nil {
		panic(err)
	}
	if zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxBodySize)); err != nil {
		panic(err)
	}
}

// readBlockByID returns a stored block's bytes, undoing compression and
// storage deltas. Through a cachedQuerier it remembers decoded blocks by
// CID: content addressing means a cached entry can never go stale, even
// across a rolled-back transaction.
func readBlockByID(q querier, id int64) ([]byte, error) {
	b, _, err := readBlockUnder(q, id, math.MaxInt)
	return b, err
}

// readBlockUnder is readBlockByID that also returns the block's delta
// depth, and only the depth (no bytes) when it is depth or more: a writer
// choosing a delta base asked for the depth and then for the block.
func readBlockUnder(q querier, id int64, limit int) ([]byte, int, error) {
	var cb []byte
	var enc, depth int
	var base sql.NullInt64
	var data []byte
	if err := q.QueryRow(`SELECT cid, enc, base, depth, data FROM blocks WHERE id = ?`, id).Scan(&cb, &enc, &base, &depth, &data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, 0, fmt.Errorf("block #%d: %w", id, ErrNotFound)
		}
		return nil, 0, err
	}
	if depth >= limit {
		return nil, depth, nil
	}
	cache := cacheOf(q)
	if enc == encPlain {
		return data, depth, nil
	}
	if b, ok := cache.get(string(cb)); ok {
		return b, depth, nil
	}
	b, err := decodeStored(q, enc, base, depth, data)
	if err == nil {
		cache.put(string(cb), b)
	}
	return b, depth, err
}

func decodeStored(q querier, enc int, base sql.NullInt64, depth int, data []byte) ([]byte, error) {
	switch enc {
	case encPlain:
		return data, nil
	case encZstd:
		return zdec.DecodeAll(data, nil)
	case encDeltaZstd, encDelta:
		if !base.Valid || depth > deltaMaxDepth {
			return nil, errBadDelta
		}
		baseData, err := readChain(q, base.Int64)
		if err != nil {
			return nil, err
		}
		return undelta(zdec, enc, baseData, data)
	}
	return nil, fmt.Errorf("unknown block encoding %d", enc)
}

// chainQuery yields a block's row and then the rows of its delta bases,
// nearest first (a recursive query emits its rows in that order), so a
// reader can stop at the first one it has already decoded.
const chainQuery = `WITH RECURSIVE chain(id, cid, enc, base, depth, data, n) AS (
	SELECT id, cid, enc, base, depth, data, 0 FROM blocks WHERE id = ?
	UNION ALL
	SELECT b.id, b.cid, b.enc, b.base, b.depth, b.data, c.n + 1 FROM blocks b JOIN chain c ON b.id = c.base
		WHERE c.enc IN (2, 3) AND c.n <= 25)
SELECT cid, enc, base, depth, data FROM chain`

// readChain is readBlockByID in one query for a whole delta chain: reading
// the latest version of a page took one query a version back to the last
// whole one (up to deltaMaxDepth), which was most of reading a page.
func readChain(q querier, id int64) ([]byte, error) {
	rows, err := q.Query(chainQuery, id)
	if err != nil {
		return nil, err
	}
	type link struct {
		cid   []byte
		enc   int
		data  []byte
		depth int
	}
	var chain []link
	var data []byte
	found := false
	cache := cacheOf(q)
	for rows.Next() {
		var l link
		var base sql.NullInt64
		if err := rows.Scan(&l.cid, &l.enc, &base, &l.depth, &l.data); err != nil {
			rows.Close()
			return nil, err
		}
		if l.enc != encPlain {
			if b, ok := cache.get(string(l.cid)); ok {
				data, found = b, true
				break
			}
		}
		if !isDeltaEnc(l.enc) {
			if data, err = decodeStored(q, l.enc, base, l.depth, l.data); err != nil {
				rows.Close()
				return nil, err
			}
			if l.enc != encPlain {
				cache.put(string(l.cid), data)
			}
			found = true
			break
		}
		if !base.Valid || l.depth > deltaMaxDepth || len(chain) > deltaMaxDepth {
			rows.Close()
			return nil, errBadDelta
		}
		chain = append(chain, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found {
		if len(chain) == 0 {
			return nil, fmt.Errorf("block #%d: %w", id, ErrNotFound)
		}
		return nil, errBadDelta // the chain ends in a base that is not stored
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if data, err = undelta(zdec, chain[i].enc, data, chain[i].data); err != nil {
			return nil, err
		}
		cache.put(string(chain[i].cid), data)
	}
	return data, nil
}

// encodeStored picks the smallest storage form of data, as a delta
// against base when one is given. Revision blocks (compress false) are
// mostly CIDs and a signature, which zstd cannot shrink; they are stored
// plain or as a plain delta against the parent revision.
func encodeStored(data []byte, base []byte, hasBase, compress bool) (enc int, stored []byte) {
	return encodeStoredWith(zenc, data, base, hasBase, compress)
}

// zencParallel is zenc for several goroutines at once (zenc has one
// encoder, which its callers take in turn); made on first use.
var zencParallel = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20))
	if err != nil {
		panic(err)
	}
	return e
})

// compressZstd is zenc.EncodeAll of data into a scratch buffer, copied
// out at its size: the encoder growing its output from nothing was a
// fifth of the compression of a 4 KB body (133 against 169 MB/s on the
// benchmark wiki's pages), and a shallow join compresses every page's
// current version.
func compressZstd(zenc *zstd.Encoder, data []byte) []byte {
	bp := zstdScratch.Get().(*[]byte)
	z := zenc.EncodeAll(data, (*bp)[:0])
	out := append([]byte(nil), z...)
	if cap(z) <= maxScratch {
		*bp = z[:0]
		zstdScratch.Put(bp)
	}
	return out
}

// zstdScratch holds compressZstd's buffers, up to maxScratch each.
var zstdScratch = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const maxScratch = 256 << 10

// encodeStoredWith is encodeStored with a given zstd encoder.
func encodeStoredWith(zenc *zstd.Encoder, data []byte, base []byte, hasBase, compress bool) (enc int, stored []byte) {
	enc, stored = encPlain, data
	if hasBase {
		d := makeDelta(base, data)
		if compress && len(d) >= 64 {
			if z := compressZstd(zenc, d); len(z) < len(d) {
				if len(z) < len(stored) {
					enc, stored = encDeltaZstd, z
				}
			} else if len(d) < len(stored) {
				enc, stored = encDelta, d
			}
		} else if len(d) < len(stored) {
			enc, stored = encDelta, d
		}
		// A delta well under a quarter of the block will not be beaten by
		// compressing the whole block: skip that work.
		if enc != encPlain && len(stored)*4 < len(data) {
			return enc, stored
		}
	}
	if compress && len(data) >= 64 {
		if z := compressZstd(zenc, data); len(z) < len(stored) {
			enc, stored = encZstd, z
		}
	}
	return enc, stored
}
