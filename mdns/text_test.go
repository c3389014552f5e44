package mdns

import (
	"slices"
	"strconv"
	"testing"

	"github.com/udpkit/udpkit/wire"
)

func TestServerText(t *testing.T) {
	v := "udpkit=" + strconv.Itoa(wire.Version)
	for _, tt := range []struct {
		attrs, want []string
	}{
		{nil, []string{v}},
		{[]string{"room=kitchen"}, []string{"room=kitchen", v}},
		{[]string{"a=1", "flag"}, []string{"a=1", "flag", v}},
	} {
		attrs := slices.Clone(tt.attrs)
		if got := ServerText(tt.attrs); !slices.Equal(got, tt.want) {
			t.Errorf("ServerText(%q) = %q, want %q", tt.attrs, got, tt.want)
		}
		if !slices.Equal(attrs, tt.attrs) {
			t.Errorf("ServerText changed its argument: %q", tt.attrs)
		}
	}
}
