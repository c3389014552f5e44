package udpserver

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// socketDrops sums the drops column of /proc/net/udp and /proc/net/udp6 over
// the sockets behind rcs, found by inode.
func socketDrops(rcs []syscall.RawConn) (uint64, error) {
	inodes := make(map[uint64]bool, len(rcs))
	for _, rc := range rcs {
		var st unix.Stat_t
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
			continue // closed meanwhile
		}
		if serr == nil {
			inodes[st.Ino] = true
		}
	}
	if len(inodes) == 0 {
		return 0, nil
	}
	var total uint64
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		n, err := procDrops(f, inodes)
		if err != nil && !os.IsNotExist(err) {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// procDrops reads one /proc/net/udp-style table: after a header line, one
// line per socket whose 10th field is the inode and 13th the drops.
func procDrops(path string, inodes map[uint64]bool) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseProcDrops(b, inodes)
}

func parseProcDrops(b []byte, inodes map[uint64]bool) (uint64, error) {
	var total uint64
	sc := bufio.NewScanner(bytes.NewReader(b))
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := bytes.Fields(sc.Bytes())
		if len(f) < 13 {
			return 0, fmt.Errorf("udpserver: unexpected line in /proc/net/udp: %q", sc.Bytes())
		}
		ino, err := strconv.ParseUint(string(f[9]), 10, 64)
		if err != nil || !inodes[ino] {
			continue
		}
		d, err := strconv.ParseUint(string(f[12]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("udpserver: bad drops field in /proc/net/udp: %q", f[12])
		}
		total += d
	}
	return total, sc.Err()
}
