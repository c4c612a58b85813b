package history

import (
	"fmt"
	"testing"
)

// A cache's bound is kept as entries come, and when it is lowered: the
// least recently used go first.
func TestBlockCacheBound(t *testing.T) {
	c := newBlockCache(10 << 10)
	for i := range 40 {
		c.put(fmt.Sprint(i), make([]byte, 1000))
	}
	if c.size > 10<<10 {
		t.Fatalf("%d bytes held, bound %d", c.size, 10<<10)
	}
	c.get("35") // used: kept over 36-39 when the bound falls
	c.limit(3000)
	if c.size > 3000 || c.order.Len() != 2 {
		t.Fatalf("after limit(3000): %d bytes, %d entries", c.size, c.order.Len())
	}
	if _, ok := c.get("35"); !ok {
		t.Fatal("the most recently used entry was dropped")
	}
	if _, ok := c.get("39"); !ok {
		t.Fatal("the newest entry was dropped")
	}
	c.limit(0)
	if c.size != 0 || c.order.Len() != 0 || len(c.byKey) != 0 {
		t.Fatalf("after limit(0): %d bytes, %d entries", c.size, c.order.Len())
	}
	c.put("x", make([]byte, 10)) // over a bound of 0: not kept
	if _, ok := c.get("x"); ok {
		t.Fatal("kept an entry over the bound")
	}
}
