package history

import (
	"container/list"
	"sync"

	"github.com/ipfs/go-cid"
)

// blockCache keeps decoded blocks by CID, bounded in bytes, least recently
// used out first. Readers that walk a history (sync, log, fsck of indexes)
// would otherwise rebuild the same delta chains again and again.
type blockCache struct {
	mu    sync.Mutex
	max   int
	size  int
	order *list.List // of *cacheEntry, front = most recent
	byKey map[string]*list.Element
}

type cacheEntry struct {
	key  string
	data []byte
}

func newBlockCache(maxBytes int) *blockCache {
	return &blockCache{max: maxBytes, order: list.New(), byKey: map[string]*list.Element{}}
}

func (c *blockCache) get(key string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*cacheEntry).data, true
	}
	return nil, false
}

func (c *blockCache) put(key string, data []byte) {
	if c == nil || len(data) > c.max/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; ok {
		return
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key, data})
	c.size += len(data) + len(key)
	c.evict()
}

// cachedQuerier is a querier whose block reads go through a cache, and,
// in a write transaction, first through what the transaction stored.
type cachedQuerier struct {
	querier
	cache   *blockCache
	overlay *txOverlay
}

// txOverlay holds what a write transaction stored, decoded, so that
// indexing the pages it touched reads none of it back from SQLite.
type txOverlay struct {
	blocks map[cid.Cid][]byte
	revs   map[cid.Cid]*Revision
}

func overlayOf(q querier) *txOverlay {
	if cq, ok := q.(cachedQuerier); ok {
		return cq.overlay
	}
	return nil
}

// overlayRevision returns a copy of a revision the transaction stored.
func overlayRevision(q querier, c cid.Cid) (*Revision, bool) {
	if o := overlayOf(q); o != nil {
		if r, ok := o.revs[c]; ok {
			cp := *r
			return &cp, true
		}
	}
	return nil, false
}

func cacheOf(q querier) *blockCache {
	if cq, ok := q.(cachedQuerier); ok {
		return cq.cache
	}
	return nil
}

// limit lowers the cache's bound to maxBytes, dropping what no longer
// fits.
func (c *blockCache) limit(maxBytes int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.max = maxBytes
	c.evict()
}

// evict drops the least recently used entries while the cache holds
// more than its bound; the caller holds mu.
func (c *blockCache) evict() {
	for c.size > c.max && c.order.Len() > 0 {
		e := c.order.Back()
		ce := e.Value.(*cacheEntry)
		c.order.Remove(e)
		delete(c.byKey, ce.key)
		c.size -= len(ce.data) + len(ce.key)
	}
}

// LimitBlockCache bounds the store's cache of decoded blocks to maxBytes
// for the rest of its life: for a process that reads each block once
// (a batched import reads every page's current version once), whom the
// cache's usual 32 MB only cost memory.
func (s *Store) LimitBlockCache(maxBytes int) { s.cache.limit(maxBytes) }
