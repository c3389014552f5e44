package sockopt

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
)

// ipHeader returns the start of an IP header from src: what the program
// reads (version nibble and source address).
func ipHeader(src netip.Addr) []byte {
	if src.Is4() {
		h := make([]byte, 20)
		h[0] = 0x45
		a := src.As4()
		copy(h[12:16], a[:])
		return h
	}
	h := make([]byte, 40)
	h[0] = 0x60
	a := src.As16()
	copy(h[8:24], a[:])
	return h
}

func runSpread(t *testing.T, n int, src netip.Addr) int {
	t.Helper()
	prog, err := spreadProgram(n, 0)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	i, err := vm.Run(ipHeader(src))
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// TestSpreadSourcesVM runs the program on IP headers with x/net/bpf's VM:
// every index is in range, the index depends on the source address only
// (IPv6: its /64), and distinct sources reach every socket.
func TestSpreadSourcesVM(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		a, b  string // same host: same socket
		other func(i int) netip.Addr
	}{
		{"v4 n=1", 1, "198.18.0.1", "198.18.0.1", v4},
		{"v4 n=2", 2, "198.18.0.1", "198.18.0.1", v4},
		{"v4 n=4", 4, "127.0.0.1", "127.0.0.1", v4},
		{"v4 n=7", 7, "10.1.2.3", "10.1.2.3", v4},
		{"v6 n=4 same /64", 4, "fd18::1", "fd18::ffff:1234:5678:9abc", v6},
		{"v6 n=3 same /64", 3, "2001:db8:1:2::1", "2001:db8:1:2:aaaa::", v6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ia := runSpread(t, tc.n, netip.MustParseAddr(tc.a))
			ib := runSpread(t, tc.n, netip.MustParseAddr(tc.b))
			if ia != ib {
				t.Errorf("%s on socket %d, %s (same host) on %d", tc.a, ia, tc.b, ib)
			}
			hits := make([]int, tc.n)
			const sources = 4096
			for i := range sources {
				k := runSpread(t, tc.n, tc.other(i))
				if k < 0 || k >= tc.n {
					t.Fatalf("source %v: index %d out of [0, %d)", tc.other(i), k, tc.n)
				}
				hits[k]++
				if g := SourceIndex(tc.other(i), tc.n); g != k {
					t.Fatalf("source %v: SourceIndex %d, the program %d", tc.other(i), g, k)
				}
			}
			for k, h := range hits {
				// Even within a factor of 2: a hash that ignored the
				// address, or most of its bits, fails this.
				if want := sources / tc.n; h < want/2 || h > want*2 {
					t.Errorf("socket %d got %d of %d sources (want about %d): %v", k, h, sources, want, hits)
				}
			}
		})
	}
}

// consecutive hosts, as on a LAN
func v4(i int) netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], 0xc6120000+uint32(i)) // 198.18.x.y
	return netip.AddrFrom4(a)
}

// consecutive /64s (the interface ID does not count)
func v6(i int) netip.Addr {
	var a [16]byte
	a[0], a[1] = 0xfd, 0x18
	binary.BigEndian.PutUint32(a[4:8], uint32(i))
	a[15] = 1
	return netip.AddrFrom16(a)
}

func TestSpreadSourcesRange(t *testing.T) {
	for _, n := range []int{0, -1, 1<<16 + 1} {
		if _, err := SpreadSources(n); err == nil {
			t.Errorf("SpreadSources(%d) succeeded", n)
		}
	}
	if p, err := SpreadSources(4); err != nil || len(p) == 0 {
		t.Fatalf("SpreadSources(4) = %d instructions, %v", len(p), err)
	}
}
