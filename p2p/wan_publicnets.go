package p2p

import (
	"net"
	"slices"
	"sync"

	manet "github.com/multiformats/go-multiaddr/net"
)

var publicNetsMu sync.Mutex

// SetPublicNets makes addresses in nets count as public for the whole
// process: libp2p's AutoNAT, the DHT's address filters, relay address
// selection and hole punching all ask go-multiaddr's manet.IsPublicAddr,
// whose tables this changes (manet.Private4, Private6, Unroutable4,
// Unroutable6). It is for networks such as a lab, a campus or a test
// rig in network namespaces, where the "public" side uses private
// addresses. Call it before any host starts. It returns a function that
// puts the tables back (for tests).
func SetPublicNets(nets []*net.IPNet) (undo func()) {
	publicNetsMu.Lock()
	defer publicNetsMu.Unlock()
	p4, p6, u4, u6 := manet.Private4, manet.Private6, manet.Unroutable4, manet.Unroutable6
	for _, n := range nets {
		manet.Private4 = subtractNet(manet.Private4, n)
		manet.Private6 = subtractNet(manet.Private6, n)
		manet.Unroutable4 = subtractNet(manet.Unroutable4, n)
		manet.Unroutable6 = subtractNet(manet.Unroutable6, n)
	}
	return func() {
		publicNetsMu.Lock()
		defer publicNetsMu.Unlock()
		manet.Private4, manet.Private6, manet.Unroutable4, manet.Unroutable6 = p4, p6, u4, u6
	}
}

// subtractNet is list without the addresses of cut: a range inside cut
// goes, a range holding cut is split into the ranges around it.
func subtractNet(list []*net.IPNet, cut *net.IPNet) []*net.IPNet {
	out := make([]*net.IPNet, 0, len(list))
	cutOnes, cutBits := cut.Mask.Size()
	for _, n := range list {
		ones, bits := n.Mask.Size()
		switch {
		case bits != cutBits || (!n.Contains(cut.IP) && !cut.Contains(n.IP)):
			out = append(out, n)
		case cutOnes <= ones: // n lies inside cut
		default:
			out = append(out, splitAround(n, cut, ones, cutOnes, bits)...)
		}
	}
	return out
}

// splitAround is n (a /ones) without cut (a /cutOnes inside it): at each
// prefix length on the way down to cut, the half not holding cut.
func splitAround(n, cut *net.IPNet, ones, cutOnes, bits int) []*net.IPNet {
	var out []*net.IPNet
	base := slices.Clone(n.IP.Mask(n.Mask))
	cutIP := cut.IP.To16()
	if len(base) == net.IPv4len {
		cutIP = cut.IP.To4()
	}
	for l := ones + 1; l <= cutOnes; l++ {
		// base is the /(l-1) holding cut; its halves differ in bit l-1.
		other := slices.Clone(base)
		byteIdx, bit := (l-1)/8, byte(0x80>>((l-1)%8))
		if cutIP[byteIdx]&bit != 0 {
			other[byteIdx] &^= bit
			base[byteIdx] |= bit
		} else {
			other[byteIdx] |= bit
		}
		out = append(out, &net.IPNet{IP: other, Mask: net.CIDRMask(l, bits)})
	}
	return out
}
