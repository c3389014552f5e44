package mdns

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// Names and TTLs (RFC 6762 section 10, RFC 6763 section 9).
const (
	// Domain is the mDNS domain.
	Domain = "local."
	// ServicesName is the DNS-SD service type enumeration name.
	ServicesName = "_services._dns-sd._udp.local."
	// HostTTL is the TTL of records that hold a host name (SRV, A, AAAA).
	HostTTL = 120
	// OtherTTL is the TTL of the other records (PTR, TXT).
	OtherTTL = 4500
	// LegacyTTL caps the TTLs of answers to legacy unicast queries
	// (RFC 6762 section 6.7).
	LegacyTTL = 10
	// cacheFlush is the top bit of the class of a unique record.
	cacheFlush = 1 << 15
	// unicastResponse is the top bit of a question's class (QU).
	unicastResponse = 1 << 15
)

// escapeLabel writes s as one label of a domain name in miekg/dns's
// presentation form: dots and backslashes escaped, other bytes kept.
func escapeLabel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' || c == '$':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// firstLabel splits a presentation-form name into its first label
// (unescaped) and the rest.
func firstLabel(name string) (label, rest string) {
	var b []byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '\\' && i+3 < len(name) && isDigit(name[i+1]) && isDigit(name[i+2]) && isDigit(name[i+3]):
			b = append(b, (name[i+1]-'0')*100+(name[i+2]-'0')*10+(name[i+3]-'0'))
			i += 3
		case c == '\\' && i+1 < len(name):
			b = append(b, name[i+1])
			i++
		case c == '.':
			return string(b), name[i+1:]
		default:
			b = append(b, c)
		}
	}
	return string(b), ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// serviceName returns the fully qualified name of a service type such as
// "_udpkit._udp": "_udpkit._udp.local.".
func serviceName(service string) string {
	return dns.Fqdn(strings.TrimSuffix(strings.TrimSuffix(service, "."), ".local")) + Domain
}

// instanceName returns "INSTANCE._udpkit._udp.local.".
func instanceName(instance, service string) string {
	return escapeLabel(instance) + "." + serviceName(service)
}

// hostName returns "HOST.local.".
func hostName(host string) string { return escapeLabel(host) + "." + Domain }

// sameName compares domain names in presentation form as DNS does: label
// by label, without ASCII case, whichever escapes each one uses.
func sameName(a, b string) bool {
	a, b = dns.Fqdn(a), dns.Fqdn(b)
	if a == b {
		return true
	}
	for a != "" || b != "" {
		var la, lb string
		la, a = firstLabel(a)
		lb, b = firstLabel(b)
		if !wire.EqualFold(la, lb) {
			return false
		}
	}
	return true
}

// service is what a responder publishes.
type service struct {
	instance string // the instance label, unescaped
	service  string // "_udpkit._udp"
	host     string // host label, unescaped
	port     uint16
	txt      []string
}

// records returns the records the service has on link l: the two PTRs
// (shared), SRV and TXT (unique) and the A/AAAA of l's addresses
// (unique). ttl 0 makes goodbyes.
func (s *service) records(l *netif.Interface, goodbye bool) []dns.RR {
	ttl := func(t uint32) uint32 {
		if goodbye {
			return 0
		}
		return t
	}
	inst, svc, host := instanceName(s.instance, s.service), serviceName(s.service), hostName(s.host)
	txt := s.txt
	if len(txt) == 0 {
		txt = []string{""} // a TXT record has at least one string (RFC 6763 section 6.1)
	}
	rrs := []dns.RR{
		&dns.PTR{Hdr: hdr(svc, dns.TypePTR, ttl(OtherTTL)), Ptr: inst},
		&dns.PTR{Hdr: hdr(ServicesName, dns.TypePTR, ttl(OtherTTL)), Ptr: svc},
		&dns.SRV{Hdr: hdr(inst, dns.TypeSRV, ttl(HostTTL)), Port: s.port, Target: host},
		&dns.TXT{Hdr: hdr(inst, dns.TypeTXT, ttl(OtherTTL)), Txt: escapeTXT(txt)},
	}
	for _, a := range linkAddrs(l) {
		if a.Is4() {
			rrs = append(rrs, &dns.A{Hdr: hdr(host, dns.TypeA, ttl(HostTTL)), A: a.AsSlice()})
		} else {
			rrs = append(rrs, &dns.AAAA{Hdr: hdr(host, dns.TypeAAAA, ttl(HostTTL)), AAAA: a.AsSlice()})
		}
	}
	return rrs
}

// escapeTXT escapes TXT strings for miekg/dns, which reads them in
// presentation form.
func escapeTXT(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		var b strings.Builder
		for j := 0; j < len(s); j++ {
			c := s[j]
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20 || c >= 0x7f:
				fmt.Fprintf(&b, "\\%03d", c)
			default:
				b.WriteByte(c)
			}
		}
		out[i] = b.String()
	}
	return out
}

// unescapeTXT undoes miekg/dns's presentation form of a TXT string.
func unescapeTXT(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]):
			b = append(b, (s[i+1]-'0')*100+(s[i+2]-'0')*10+(s[i+3]-'0'))
			i += 3
		case c == '\\' && i+1 < len(s):
			b = append(b, s[i+1])
			i++
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func hdr(name string, t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

// unique reports whether rr is one of the records only one host may own
// (everything but PTR, RFC 6762 section 2).
func unique(rr dns.RR) bool { return rr.Header().Rrtype != dns.TypePTR }

// rdata returns rr's RDATA in wire form (uncompressed), for comparing
// records and for the tie-break of simultaneous probes.
func rdata(rr dns.RR) []byte {
	buf := make([]byte, dns.Len(rr)+64)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil
	}
	hl := headerLen(buf[:n])
	if hl < 0 {
		return nil
	}
	return buf[hl:n]
}

// headerLen returns the length of the owner name and fixed fields of a
// packed record.
func headerLen(b []byte) int {
	i := 0
	for i < len(b) {
		l := int(b[i])
		if l == 0 {
			i++
			break
		}
		if l&0xc0 != 0 {
			i += 2
			break
		}
		i += 1 + l
	}
	i += 10 // type, class, TTL, RDLENGTH
	if i > len(b) {
		return -1
	}
	return i
}

// sameRecord reports whether a and b have the same name, type, class
// (cache-flush bit ignored) and RDATA.
func sameRecord(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	return ha.Rrtype == hb.Rrtype && ha.Class&^cacheFlush == hb.Class&^cacheFlush &&
		sameName(ha.Name, hb.Name) && bytes.Equal(rdata(a), rdata(b))
}

// compareProbes orders two sets of proposed records for one name as RFC
// 6762 section 8.2 says: each sorted by class, type and RDATA, then
// compared record by record; a longer set wins over its prefix. It returns
// -1, 0 or +1 for ours earlier, equal or later than theirs: the later one
// wins.
func compareProbes(ours, theirs []dns.RR) int {
	key := func(rr dns.RR) []byte {
		h := rr.Header()
		k := []byte{byte(h.Class >> 8 & 0x7f), byte(h.Class), byte(h.Rrtype >> 8), byte(h.Rrtype)}
		return append(k, rdata(rr)...)
	}
	sorted := func(rrs []dns.RR) [][]byte {
		ks := make([][]byte, len(rrs))
		for i, rr := range rrs {
			ks[i] = key(rr)
		}
		slices.SortFunc(ks, bytes.Compare)
		return ks
	}
	a, b := sorted(ours), sorted(theirs)
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := bytes.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// addrOf returns the address of an A or AAAA record.
func addrOf(rr dns.RR) (netip.Addr, bool) {
	switch r := rr.(type) {
	case *dns.A:
		a, ok := netip.AddrFromSlice(r.A.To4())
		return a, ok
	case *dns.AAAA:
		a, ok := netip.AddrFromSlice(r.AAAA.To16())
		return a.Unmap(), ok
	}
	return netip.Addr{}, false
}

// renamed returns the next name after a conflict: "name (2)", "name (3)"
// for instances (RFC 6763 section 9 style, as Avahi does), "name-2" for
// host names.
func renamed(name string, host bool) string {
	base, n := name, 1
	if host {
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if k, ok := atoi(name[i+1:]); ok && k >= 2 {
				base, n = name[:i], k
			}
		}
		return fitLabel(base, fmt.Sprintf("-%d", n+1))
	}
	if strings.HasSuffix(name, ")") {
		if i := strings.LastIndex(name, " ("); i > 0 {
			if k, ok := atoi(name[i+2 : len(name)-1]); ok && k >= 2 {
				base, n = name[:i], k
			}
		}
	}
	return fitLabel(base, fmt.Sprintf(" (%d)", n+1))
}

// fitLabel appends suffix to base, cutting base (at a rune boundary) so
// the label stays within 63 bytes.
func fitLabel(base, suffix string) string {
	return wire.TruncateUTF8(base, 63-len(suffix)) + suffix
}

func atoi(s string) (int, bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
