package discovery

// The text forms of instances and events: the table of udpcli discover,
// the line of udpcli watch, and the lines of avahi-browse -p, which
// scripts written for Avahi already parse. The types carry no encoding; a
// tool that wants JSON builds its own.

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// TableHeader is the header of the table whose rows are Instance.Row.
var TableHeader = fmt.Sprintf(rowFormat, "INSTANCE", "SERVICE", "ADDRESS", "INTERFACE", "TIME", "ATTRIBUTES")

const rowFormat = "%-24s %-16s %-26s %-10s %9s  %s"

// Row is in as a line of the table under TableHeader: name, service, the
// first address, interface, FoundAfter, then the attributes (quoted when
// they hold blanks, quotes or control characters), the other addresses and
// any conflict.
func (in Instance) Row() string {
	addr := ""
	var more []string
	for i, a := range in.Addrs {
		if i == 0 {
			addr = a.String()
		} else {
			more = append(more, a.String())
		}
	}
	attrs := make([]string, len(in.Attrs))
	for i, a := range in.Attrs {
		if strings.ContainsAny(a, " \"\\") || !isPrint(a) {
			a = fmt.Sprintf("%q", a)
		}
		attrs[i] = a
	}
	rest := strings.Join(attrs, " ")
	if in.Truncated {
		rest += " (truncated)"
	}
	if len(more) > 0 {
		rest += "  also " + strings.Join(more, " ")
	}
	if in.Conflict {
		rest += "  (conflict: " + joinAddrs(in.Others, ", ") + ")"
	}
	return fmt.Sprintf(rowFormat, in.Instance, in.Service, addr, in.Interface, msText(in.FoundAfter), strings.TrimSpace(rest))
}

// String is the event as udpcli watch prints it: "15:04:05.000 up NAME
// SERVICE IFACE ADDRS (REASON)", the time in the event's location.
func (e Event) String() string {
	in := e.Instance
	return fmt.Sprintf("%s %-6s %-24s %-16s %-10s %s (%s)", e.Time.Format("15:04:05.000"), e.Kind,
		in.Instance, in.Service, in.Interface, joinAddrs(in.Addrs, ","), e.Reason)
}

// Avahi returns the lines avahi-browse -p prints for the event: found and
// resolved ('+' then '=') for Up, resolved again for Update, gone ('-') for
// Down.
func (e Event) Avahi() string {
	return e.Instance.Avahi(map[EventKind]string{Up: "+=", Update: "=", Down: "-"}[e.Kind])
}

// Avahi returns the lines avahi-browse -p prints for in with each of signs
// in turn ("+=": found, then resolved), IPv4 before IPv6 (AppendAvahi).
func (in Instance) Avahi(signs string) string {
	var b []byte
	for _, sign := range []byte(signs) {
		b = in.AppendAvahi(b, sign, false, "")
		b = in.AppendAvahi(b, sign, true, "")
	}
	return string(b)
}

// AppendAvahi appends the lines of avahi-browse -p for in's addresses of
// one family (IPv6 when v6), field for field:
//
//	+;IFACE;PROTO;NAME;TYPE;DOMAIN                        (found)
//	=;IFACE;PROTO;NAME;TYPE;DOMAIN;HOST;ADDR;PORT;TXT     (resolved; one per address)
//	-;IFACE;PROTO;NAME;TYPE;DOMAIN                        (gone)
//
// PROTO is IPv4 or IPv6, DOMAIN is "local" (the LAN), HOST is host, or the
// address itself when host is "" (udpkit announcements carry no host
// name), TXT the attributes, each in double quotes. NAME is escaped as
// avahi escapes it: letters, digits, '-' and '_' as they are, '.' and '\'
// after a backslash, every other byte as \DDD in decimal. Nothing is
// appended when in has no address of the family.
func (in Instance) AppendAvahi(b []byte, sign byte, v6 bool, host string) []byte {
	var addrs []netip.AddrPort
	for _, a := range in.Addrs {
		if a.Addr().Unmap().Is4() != v6 {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return b
	}
	proto := "IPv4"
	if v6 {
		proto = "IPv6"
	}
	head := fmt.Sprintf("%c;%s;%s;%s;%s;local", sign, in.Interface, proto, avahiEscape(in.Instance), in.Service)
	if sign != '=' {
		return append(append(b, head...), '\n')
	}
	txt := make([]string, len(in.Attrs))
	for i, a := range in.Attrs {
		txt[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
	}
	for _, a := range addrs {
		addr := a.Addr().WithZone("")
		h := host
		if h == "" {
			h = addr.String()
		}
		b = fmt.Appendf(b, "%s;%s;%s;%d;%s\n", head, h, addr, a.Port(), strings.Join(txt, " "))
	}
	return b
}

// avahiEscape escapes a name as avahi-browse -p prints it.
func avahiEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case c == '.' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03d", c)
		}
	}
	return b.String()
}

func isPrint(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// msText prints a duration in ms with precision shrinking as it grows.
func msText(d time.Duration) string {
	ms := float64(d.Microseconds()) / 1000
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}

func joinAddrs(as []netip.AddrPort, sep string) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, sep)
}
