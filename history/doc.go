// Package history owns peerwiki's content-addressed revision DAG: the block
// encoding (canonical dag-cbor revisions, raw body blocks), CIDs, Ed25519
// signatures, the SQLite store, and ancestry (heads, merge base, log).
//
// It knows nothing of what a page means beyond the fields a revision
// carries: link syntax, merge policies and presentation belong to wiki/ and
// merge/. It never stores a block whose bytes do not match its CID, nor a
// revision whose parents or body are missing (causal completeness), and it
// keeps heads, the page index and the search index in step with the stored
// revisions inside the same transaction. Whether a revision counts is the
// caller's rule (Options.Counts, membership in wiki/); the store records
// each revision's author and keeps the ones that do not count void: stored,
// never heads (void.go, authors.go).
package history
