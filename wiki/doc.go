// Package wiki gives pages their meaning on top of history: a repo on disk
// (config, identity, wiki key, database), creating, editing, renaming and
// deleting pages, reading a page or any revision, search, [[links]] and
// backlinks, conflict state, and Markdown import/export.
//
// It never talks to the network, and it never writes a block except through
// history.Store.Put, so every write keeps the store's invariants.
package wiki
