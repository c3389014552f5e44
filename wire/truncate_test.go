package wire

import "testing"

func TestTruncateUTF8(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel"},
		{"héllo", 2, "h"}, // é is 2 bytes: not split
		{"héllo", 3, "hé"},
		{"日本", 4, "日"}, // 3-byte runes
		{"日本", 2, ""},
		{"abc", 0, ""},
		{"abc", -1, ""},
		{"", 0, ""},
	} {
		if got := TruncateUTF8(tc.s, tc.n); got != tc.want {
			t.Errorf("TruncateUTF8(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestEchoCookie(t *testing.T) {
	c := Cookie{1, 2, 3, 4, 5, 6, 7, 8}
	d := AppendData(nil, 0x1234, []byte("hi"))
	if !IsPlainData(d) {
		t.Fatal("plain DATA not recognised")
	}
	got := EchoCookie(nil, d, c)
	if want := AppendDataCookie(nil, 0x1234, []byte("hi"), c); string(got) != string(want) {
		t.Errorf("EchoCookie = %x, want %x", got, want)
	}
	if IsPlainData(got) || IsPlainData(AppendHeader(nil, Header{Type: TypePing, ID: 1})) || IsPlainData(d[:HeaderLen-1]) {
		t.Error("IsPlainData true for a cookie echo, a PING or a short datagram")
	}
	if string(d) != string(AppendData(nil, 0x1234, []byte("hi"))) {
		t.Error("EchoCookie changed its input")
	}
}
