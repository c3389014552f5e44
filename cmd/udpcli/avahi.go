package main

// The lines of avahi-browse -p, which scripts written for Avahi already
// parse: discover -p, watch -p and discover --mdns -p.

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/udpkit/udpkit/discovery"
)

// avahiEvent is a watch event's lines: found and resolved ('+' then '=')
// for Up, resolved again for Update, as avahi-browse does, gone ('-') for
// Down.
func avahiEvent(e discovery.Event) string {
	return avahiSigns(e.Instance, map[discovery.EventKind]string{discovery.Up: "+=", discovery.Update: "=", discovery.Down: "-"}[e.Kind])
}

// avahiSigns is in's lines with each of signs in turn ("+=": found, then
// resolved), IPv4 before IPv6.
func avahiSigns(in discovery.Instance, signs string) string {
	var b []byte
	for _, sign := range []byte(signs) {
		b = appendAvahi(b, sign, false, in, "")
		b = appendAvahi(b, sign, true, in, "")
	}
	return string(b)
}

// appendAvahi appends the lines of avahi-browse -p for in's addresses of
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
func appendAvahi(b []byte, sign byte, v6 bool, in discovery.Instance, host string) []byte {
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
