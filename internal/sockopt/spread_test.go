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

// testMul is the hash multiplier of the table tests (any odd one works:
// the server draws one at random).
const testMul = 0x9e3779b1

func runSpread(t *testing.T, n int, src netip.Addr) int {
	t.Helper()
	return runProgram(t, Spread{Sockets: n, Mul: testMul}, src)
}

func runProgram(t *testing.T, sp Spread, src netip.Addr) int {
	t.Helper()
	return runPayload(t, sp, src, nil)
}

// vmPayload is where the VM tests put the UDP payload, after an IP
// header (the kernel's program sees the payload at 0 and the header
// through SKF_NET_OFF; the VM has one buffer).
const vmPayload = 48

// runPayload runs sp's program on a datagram from src carrying payload.
func runPayload(t *testing.T, sp Spread, src netip.Addr, payload []byte) int {
	t.Helper()
	prog, err := sp.program(0, vmPayload)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]byte, vmPayload, vmPayload+len(payload))
	copy(in, ipHeader(src.Unmap()))
	i, err := vm.Run(append(in, payload...))
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
				if g := (Spread{Sockets: tc.n, Mul: testMul}).Index(tc.other(i)); g != k {
					t.Fatalf("source %v: Index %d, the program %d", tc.other(i), g, k)
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

func TestSpreadRange(t *testing.T) {
	many := make([]netip.Addr, MaxJailed+1)
	for i := range many {
		many[i] = v4(i)
	}
	for _, sp := range []Spread{
		{Sockets: 0, Mul: testMul},
		{Sockets: -1, Mul: testMul},
		{Sockets: 1 << 16, Mul: testMul},
		{Sockets: 4, Mul: 2},
		{Sockets: 4, Mul: testMul, Jailed: many},
		{Sockets: 4, Mul: testMul, Jailed: []netip.Addr{{}}},
	} {
		if _, err := sp.Program(); err == nil {
			t.Errorf("Spread{%d, %#x, %d jailed}.Program() succeeded", sp.Sockets, sp.Mul, len(sp.Jailed))
		}
	}
	if p, err := (Spread{Sockets: 4, Mul: testMul, Jailed: many[:MaxJailed]}).Program(); err != nil || len(p) == 0 {
		t.Fatalf("Program() = %d instructions, %v", len(p), err)
	}
	for range 100 {
		if m := RandomMultiplier(); m&1 == 0 || m>>31 == 0 {
			t.Fatalf("RandomMultiplier() = %#x: want odd, top bit set", m)
		}
	}
}

// TestSpreadJailedVM: jailed sources (IPv4, IPv4-mapped, IPv6 /64s) go to
// the quarantine socket, index Sockets; everyone else is hashed as
// without a jail (the same index), and an address next to a jailed one
// (same first 32 bits of a /64, other /64, other IPv4) is not jailed.
func TestSpreadJailedVM(t *testing.T) {
	addr := netip.MustParseAddr
	const n = 4
	jailed := []netip.Addr{
		addr("198.18.0.7"),
		addr("::ffff:198.18.0.9"),       // v4-mapped: jails 198.18.0.9
		addr("fd18:0:0:5::1"),           // jails fd18:0:0:5::/64
		addr("fd18:0:0:6:aaaa::1%eth0"), // zone ignored
	}
	for _, nj := range []int{0, 1, 2, 3, 4} {
		sp := Spread{Sockets: n, Mul: testMul, Jailed: jailed[:nj]}
		free := Spread{Sockets: n, Mul: testMul}
		for _, tc := range []struct {
			src  string
			jail int // jailed when nj > jail
		}{
			{"198.18.0.7", 0},
			{"::ffff:198.18.0.7", 0},
			{"198.18.0.9", 1},
			{"::ffff:198.18.0.9", 1},
			{"fd18:0:0:5::1", 2},
			{"fd18:0:0:5:ffff:ffff:ffff:ffff", 2},
			{"fd18:0:0:6::2", 3},
			{"198.18.0.8", 99},
			{"198.18.1.7", 99},
			{"7.0.18.198", 99},
			{"fd18:0:0:7::1", 99},
			{"fd18:0:1:5::1", 99}, // same second word of the /64
			{"fd19:0:0:5::1", 99}, // another first word of the /64
			{"::c612:7", 99},      // 198.18.0.7's bits in an IPv6 address
		} {
			src := addr(tc.src)
			got := runProgram(t, sp, src)
			want := free.Index(src)
			if nj > tc.jail {
				want = n
			}
			if got != want {
				t.Errorf("%d jailed: %s on socket %d, want %d", nj, tc.src, got, want)
			}
			if g := sp.Index(src); g != got {
				t.Errorf("%d jailed: %s: Index %d, the program %d", nj, tc.src, g, got)
			}
		}
	}
	// A full jail: every jailed source found, the rest hashed.
	var full []netip.Addr
	for i := range MaxJailed / 2 {
		full = append(full, v4(2*i), v6(2*i))
	}
	sp := Spread{Sockets: n, Mul: testMul, Jailed: full}
	for i := range MaxJailed + 8 {
		for _, src := range []netip.Addr{v4(i), v6(i)} {
			want := (Spread{Sockets: n, Mul: testMul}).Index(src)
			if i%2 == 0 && i < MaxJailed {
				want = n
			}
			if got := runProgram(t, sp, src); got != want {
				t.Errorf("full jail: %v on socket %d, want %d", src, got, want)
			}
		}
	}
}

// TestSpreadMultiplier: another multiplier puts hosts on other sockets
// (the point of drawing it at random), still evenly.
func TestSpreadMultiplier(t *testing.T) {
	const n, sources = 4, 4096
	a, b := Spread{Sockets: n, Mul: testMul}, Spread{Sockets: n, Mul: 0xc2b2ae35}
	moved := 0
	for i := range sources {
		ia, ib := runProgram(t, a, v4(i)), runProgram(t, b, v4(i))
		if ia != ib {
			moved++
		}
	}
	// Independent placements agree for 1 in n hosts.
	if want := sources * (n - 1) / n; moved < want*3/4 {
		t.Errorf("%d of %d hosts changed socket with the multiplier, want about %d", moved, sources, want)
	}
}

// datagram returns a udpkit DATA of size bytes (at least 16) with flags
// and, when flags has COOKIE, a cookie beginning with tag at its end.
func datagram(size int, flags byte, tag uint32) []byte {
	b := make([]byte, size)
	b[0], b[1], b[2], b[3], b[4] = 0xfa, 0x4b, 1, 1, flags
	if flags&tagFlag != 0 && size >= tagCookie {
		binary.BigEndian.PutUint32(b[size-tagCookie:], tag)
		binary.BigEndian.PutUint32(b[size-4:], 0x5a5a5a5a)
	}
	return b
}

// TestSpreadTagsVM: a jailed source's datagram that echoes a cookie
// beginning with one of its tags is hashed as if not jailed; without
// COOKIE, with another tag (a wrong one, another jailed source's), too
// short, or the tag anywhere but the cookie, it goes to the quarantine
// socket. A source with no tags, or that is not jailed, is unaffected.
// Pick, in Go, agrees.
func TestSpreadTagsVM(t *testing.T) {
	addr := netip.MustParseAddr
	const n = 4
	sp := Spread{Sockets: n, Mul: testMul,
		Jailed: []netip.Addr{addr("198.18.0.7"), addr("fd18:0:0:5::1"), addr("198.18.0.9"), addr("fd18:0:0:6::1"), addr("198.18.0.10")},
		Tags:   [][2]uint32{{0x11111111, 0x22222222}, {0x33333333, 0x44444444}, {0, 0}, {0, 0x55555555}},
	}
	free := Spread{Sockets: n, Mul: testMul}
	tagged := func(tag uint32) []byte { return datagram(40, tagFlag, tag) }
	for _, tc := range []struct {
		name    string
		src     string
		payload []byte
		hashed  bool
	}{
		{"v4 current tag", "198.18.0.7", tagged(0x11111111), true},
		{"v4 previous tag", "198.18.0.7", tagged(0x22222222), true},
		{"v4-mapped source", "::ffff:198.18.0.7", tagged(0x11111111), true},
		{"v4 shortest", "198.18.0.7", datagram(24, tagFlag, 0x11111111), true},
		{"v4 flags with AUTH too", "198.18.0.7", datagram(40, tagFlag|1, 0x11111111), true}, // the server drops it
		{"v4 wrong tag", "198.18.0.7", tagged(0x11111112), false},
		{"v4 other source's tag", "198.18.0.7", tagged(0x33333333), false},
		{"v4 placeholder", "198.18.0.7", tagged(0), false},
		{"v4 no COOKIE flag", "198.18.0.7", datagram(40, 0, 0x11111111), false},
		{"v4 23 bytes", "198.18.0.7", datagram(23, tagFlag, 0x11111111), false},
		{"v4 3 bytes", "198.18.0.7", []byte("hi\n"), false},
		{"v4 empty", "198.18.0.7", nil, false},
		{"v4 tag in the body", "198.18.0.7", append(binary.BigEndian.AppendUint32(datagram(16, tagFlag, 0), 0x11111111), make([]byte, 8)...), false},
		{"v6 current tag", "fd18:0:0:5::1", tagged(0x33333333), true},
		{"v6 previous tag, other address of the /64", "fd18:0:0:5:abcd::9", tagged(0x44444444), true},
		{"v6 v4 source's tag", "fd18:0:0:5::1", tagged(0x11111111), false},
		{"v6 no COOKIE flag", "fd18:0:0:5::1", datagram(40, 0, 0x33333333), false},
		{"v6 short", "fd18:0:0:5::1", datagram(20, tagFlag, 0x33333333), false},
		{"no tags", "198.18.0.9", tagged(0x11111111), false},
		{"no tags, zero", "198.18.0.9", tagged(0), false},
		{"one tag of two", "fd18:0:0:6::1", tagged(0x55555555), true},
		{"one tag of two, zero", "fd18:0:0:6::1", tagged(0), false},
		{"past Tags", "198.18.0.10", tagged(0x11111111), false},
		{"not jailed, tagged", "198.18.0.8", tagged(0x11111111), true},
		{"not jailed, short", "198.18.0.8", []byte("x"), true},
		{"not jailed v6", "fd18:0:0:7::1", tagged(0x33333333), true},
	} {
		src := addr(tc.src)
		want := n
		if tc.hashed {
			want = free.Index(src)
		}
		if got := runPayload(t, sp, src, tc.payload); got != want {
			t.Errorf("%s: %s on socket %d, want %d", tc.name, tc.src, got, want)
		}
		if got := sp.Pick(src, tc.payload); got != want {
			t.Errorf("%s: %s: Pick %d, want %d", tc.name, tc.src, got, want)
		}
	}
	// A full jail of tagged sources, IPv4 and IPv6 in turn: the longest
	// program, every jump in reach.
	var full Spread
	full.Sockets, full.Mul = n, testMul
	for i := range MaxJailed {
		src := v4(i)
		if i%2 == 1 {
			src = v6(i)
		}
		full.Jailed = append(full.Jailed, src)
		full.Tags = append(full.Tags, [2]uint32{uint32(1000 + i), uint32(2000 + i)})
	}
	for i := range MaxJailed + 4 {
		for _, src := range []netip.Addr{v4(i), v6(i)} {
			jailed := i < MaxJailed && src.Is4() == (i%2 == 0)
			for _, tag := range []uint32{uint32(1000 + i), uint32(2000 + i), uint32(3000 + i)} {
				want := free.Index(src)
				if jailed && tag >= 3000 {
					want = n
				}
				if got := runPayload(t, full, src, tagged(tag)); got != want {
					t.Errorf("full jail: %v tag %d on socket %d, want %d", src, tag, got, want)
				}
			}
			if want := map[bool]int{true: n, false: free.Index(src)}[jailed]; runPayload(t, full, src, nil) != want {
				t.Errorf("full jail: %v untagged, want socket %d", src, want)
			}
		}
	}
	if p, err := full.Program(); err != nil || len(p) > 609 {
		t.Errorf("full jail with tags: %d instructions, %v", len(p), err)
	}
	if _, err := (Spread{Sockets: n, Mul: testMul, Tags: [][2]uint32{{1, 2}}}).Program(); err == nil {
		t.Error("tags without a jailed source accepted")
	}
}

// FuzzSpreadPick: on any datagram from any source, the program (x/net/bpf's
// VM) and Pick agree, with a jail of tagged and untagged sources, IPv4 and
// IPv6.
func FuzzSpreadPick(f *testing.F) {
	f.Add([]byte{198, 18, 0, 7}, datagram(40, tagFlag, 0x11111111))
	f.Add([]byte{198, 18, 0, 7}, datagram(24, tagFlag, 0x22222222))
	f.Add([]byte{0xfd, 0x18, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1}, datagram(30, tagFlag, 0x33333333))
	f.Add([]byte{198, 18, 0, 9}, []byte("hi\n"))
	sp := Spread{Sockets: 3, Mul: testMul,
		Jailed: []netip.Addr{netip.MustParseAddr("198.18.0.7"), netip.MustParseAddr("fd18:0:0:5::1"), netip.MustParseAddr("198.18.0.9")},
		Tags:   [][2]uint32{{0x11111111, 0x22222222}, {0x33333333, 0}},
	}
	f.Fuzz(func(t *testing.T, src, payload []byte) {
		a, ok := netip.AddrFromSlice(src)
		if !ok || len(payload) > 1500 {
			return
		}
		if got, want := runPayload(t, sp, a, payload), sp.Pick(a, payload); got != want {
			t.Errorf("%v %x: the program picks %d, Pick %d", a, payload, got, want)
		}
	})
}
