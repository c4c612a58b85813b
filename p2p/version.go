package p2p

// SyncVersion is the sync protocol version this build speaks; a replica
// of another version is refused ("unsupported sync version N").
func SyncVersion() int { return protoVersion }
