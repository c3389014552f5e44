package wire

import "testing"

func TestIDString(t *testing.T) {
	for _, tc := range []struct {
		id   uint64
		want string
	}{
		{0, "0000000000000000"},
		{17, "0000000000000011"},
		{0x6812a9f900000001, "6812a9f900000001"},
		{^uint64(0), "ffffffffffffffff"},
	} {
		if got := IDString(tc.id); got != tc.want {
			t.Errorf("IDString(%#x) = %q, want %q", tc.id, got, tc.want)
		}
		if back, err := ParseID(tc.want); err != nil || back != tc.id {
			t.Errorf("ParseID(%q) = %#x, %v", tc.want, back, err)
		}
	}
	if got := SessionString(0x6812a9f9); got != "6812a9f9" {
		t.Errorf("SessionString = %q", got)
	}
	if got := SessionString(1); got != "00000001" {
		t.Errorf("SessionString(1) = %q", got)
	}
	if _, err := ParseID("xyz"); err == nil {
		t.Error("ParseID(xyz): no error")
	}
}
