package merge

// testRand is a small seeded generator (splitmix64) for the tests' inputs.
// The tests use it rather than math/rand so that the inputs, and with them
// the golden hashes of TestMergeGolden, cannot change with a Go release.
type testRand struct{ state uint64 }

func newRand(seed, stream uint64) *testRand {
	return &testRand{state: seed*0x9e3779b97f4a7c15 ^ stream*0xbf58476d1ce4e5b9}
}

func (r *testRand) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// IntN returns a number in [0, n); the slight bias of the modulo does not
// matter for test inputs.
func (r *testRand) IntN(n int) int {
	if n <= 0 {
		panic("IntN: n <= 0")
	}
	return int(r.next() % uint64(n))
}

// Shuffle shuffles n elements with swap (Fisher–Yates).
func (r *testRand) Shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, r.IntN(i+1))
	}
}
