package history

import "testing"

// The memo of good signatures answers only for the exact key, message
// and signature it saw, and stays within its size.
func TestVerifiedMemo(t *testing.T) {
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r := &Revision{Wiki: "w", Title: "T", Time: 1, Height: 1,
		Body: Link{Cid: SumCID(CodecRaw, []byte("body\n"))}}
	if err := r.Sign(id.Key); err != nil {
		t.Fatal(err)
	}
	c, err := r.sigCheck()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second answer comes from the memo
		if !verifyEd25519(c.pub, c.msg, c.sig) {
			t.Fatal("good signature refused")
		}
	}
	if !recentlyVerified.has(verifiedKey(c.pub, c.msg, c.sig)) {
		t.Fatal("a good signature was not remembered")
	}
	bad := append([]byte(nil), c.sig...)
	bad[10] ^= 1
	if verifyEd25519(c.pub, c.msg, bad) {
		t.Fatal("a changed signature passed after the good one was remembered")
	}
	if recentlyVerified.has(verifiedKey(c.pub, c.msg, bad)) {
		t.Fatal("a bad signature was remembered")
	}
	msg := append([]byte(nil), c.msg...)
	msg[len(msg)-1] ^= 1
	if verifyEd25519(c.pub, msg, c.sig) {
		t.Fatal("a changed message passed after the good one was remembered")
	}
	for i := range verifiedMemoSize + 10 {
		recentlyVerified.add(verifiedKey(c.pub, []byte{byte(i), byte(i >> 8)}, c.sig))
	}
	recentlyVerified.mu.Lock()
	n := len(recentlyVerified.set)
	recentlyVerified.mu.Unlock()
	if n != verifiedMemoSize {
		t.Fatalf("memo holds %d, want %d", n, verifiedMemoSize)
	}
	if recentlyVerified.has(verifiedKey(c.pub, c.msg, c.sig)) {
		t.Fatal("the oldest entry was not forgotten")
	}
}
