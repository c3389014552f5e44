package udpserver

import "testing"

func TestParseProcDrops(t *testing.T) {
	in := []byte(`   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:2649 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 4242 2 0000000000000000 17
  124: 0100007F:264A 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 4343 2 0000000000000000 5
  125: 0100007F:264B 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 4444 2 0000000000000000 3
`)
	n, err := parseProcDrops(in, map[uint64]bool{4242: true, 4444: true})
	if err != nil || n != 20 {
		t.Errorf("got %d, %v; want 20", n, err)
	}
	if _, err := parseProcDrops([]byte("header\n1: 2 3\n"), map[uint64]bool{1: true}); err == nil {
		t.Error("a short line was accepted")
	}
}
