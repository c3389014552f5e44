package netif

import (
	"bytes"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"text/template"
	"unicode"

	sockaddr "github.com/hashicorp/go-sockaddr"
	socktmpl "github.com/hashicorp/go-sockaddr/template"
)

// matchTemplate runs a go-sockaddr template against the interfaces of src
// and returns the indexes of the entries whose addresses (or names) appear
// in its output.
//
// go-sockaddr's own source functions (GetAllInterfaces, GetPrivateIP, ...)
// read the machine directly; here they are replaced by equivalents that read
// src, so that the template sees the same interfaces Select does and tests
// can use fake ones. The sort, filter and helper functions are go-sockaddr's.
func matchTemplate(src source, entries []entry, spec string) ([]int, error) {
	all := make(sockaddr.IfAddrs, 0, len(entries))
	for _, e := range entries {
		for _, p := range e.prefixes {
			ip, err := sockaddr.NewIPAddr(netip.PrefixFrom(p.Addr().WithZone(""), p.Bits()).String())
			if err != nil {
				continue
			}
			all = append(all, sockaddr.IfAddr{SockAddr: ip, Interface: e.raw})
		}
	}
	f := &templateFuncs{src: src, all: all}

	funcs := template.FuncMap{}
	maps.Copy(funcs, socktmpl.SortFuncs)
	maps.Copy(funcs, socktmpl.FilterFuncs)
	maps.Copy(funcs, socktmpl.HelperFuncs)
	maps.Copy(funcs, template.FuncMap{
		"GetAllInterfaces":     f.getAllInterfaces,
		"GetDefaultInterfaces": f.getDefaultInterfaces,
		"GetPrivateInterfaces": f.getPrivateInterfaces,
		"GetPublicInterfaces":  f.getPublicInterfaces,
		"GetPrivateIP":         f.getPrivateIP,
		"GetPrivateIPs":        f.getPrivateIPs,
		"GetPublicIP":          f.getPublicIP,
		"GetPublicIPs":         f.getPublicIPs,
		"GetInterfaceIP":       f.getInterfaceIP,
		"GetInterfaceIPs":      f.getInterfaceIPs,
	})

	tmpl, err := template.New("netif").Option("missingkey=error").Funcs(funcs).Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("parsing interface template %q: %w", spec, err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, f.clone()); err != nil {
		return nil, fmt.Errorf("running interface template %q: %w", spec, err)
	}

	picked := make([]bool, len(entries))
	tokens := strings.FieldsFunc(out.String(), func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune("[]{},;\"'", r)
	})
	for _, tok := range tokens {
		var addr netip.Addr
		if p, err := netip.ParsePrefix(tok); err == nil {
			addr = p.Addr()
		} else if a, err := netip.ParseAddr(tok); err == nil {
			addr = a
		}
		for k, e := range entries {
			if addr.IsValid() && e.iface.Has(addr) || !addr.IsValid() && e.iface.Name == tok {
				picked[k] = true
			}
		}
	}
	var matched []int
	for k, ok := range picked {
		if ok {
			matched = append(matched, k)
		}
	}
	if len(matched) == 0 {
		return nil, fmt.Errorf("%w %q: the template's output %q holds no address or name of an interface; available: %s",
			ErrNoMatch, spec, strings.TrimSpace(out.String()), available(entries))
	}
	return matched, nil
}

// templateFuncs are go-sockaddr's source functions, bound to a source.
type templateFuncs struct {
	src source
	all sockaddr.IfAddrs
}

func (f *templateFuncs) clone() sockaddr.IfAddrs {
	return append(sockaddr.IfAddrs(nil), f.all...)
}

func (f *templateFuncs) getAllInterfaces() (sockaddr.IfAddrs, error) {
	return f.clone(), nil
}

// defaultName returns the default-route interface name, wrapping
// ErrNoDefaultRoute on failure.
func (f *templateFuncs) defaultName() (string, error) {
	name, err := f.src.DefaultInterfaceName()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoDefaultRoute, err)
	}
	if name == "" {
		return "", ErrNoDefaultRoute
	}
	return name, nil
}

func (f *templateFuncs) getDefaultInterfaces() (sockaddr.IfAddrs, error) {
	name, err := f.defaultName()
	if err != nil {
		return nil, err
	}
	var out sockaddr.IfAddrs
	for _, ia := range f.all {
		if ia.Name == name {
			out = append(out, ia)
		}
	}
	return out, nil
}

// usable is go-sockaddr's common start of GetPrivateInterfaces and
// GetPublicInterfaces: IP addresses that are forwardable and up, with the
// default-route interface (if there is one) first, then by type and size.
// Unlike go-sockaddr it asks for the default route once, not per comparison,
// and a missing default route only changes the order.
func (f *templateFuncs) usable() (sockaddr.IfAddrs, error) {
	ifs, _ := sockaddr.FilterIfByType(f.clone(), sockaddr.TypeIP)
	ifs, _, err := sockaddr.IfByFlag("forwardable", ifs)
	if err != nil {
		return nil, err
	}
	ifs, _, err = sockaddr.IfByFlag("up", ifs)
	if err != nil {
		return nil, err
	}
	def, _ := f.src.DefaultInterfaceName()
	byDefault := func(a, b *sockaddr.IfAddr) int {
		switch {
		case def == "" || (a.Name == def) == (b.Name == def):
			return 0
		case a.Name == def:
			return -1
		default:
			return 1
		}
	}
	sockaddr.OrderedIfAddrBy(byDefault, sockaddr.AscIfType, sockaddr.AscIfNetworkSize).Sort(ifs)
	return ifs, nil
}

func (f *templateFuncs) getPrivateInterfaces() (sockaddr.IfAddrs, error) {
	ifs, err := f.usable()
	if err != nil {
		return nil, err
	}
	ifs, _, err = sockaddr.IfByRFC("6890", ifs)
	return ifs, err
}

func (f *templateFuncs) getPublicInterfaces() (sockaddr.IfAddrs, error) {
	ifs, err := f.usable()
	if err != nil {
		return nil, err
	}
	_, ifs, err = sockaddr.IfByRFC("6890", ifs)
	return ifs, err
}

// firstIP returns the address of the first element of ifs, or "".
func firstIP(ifs sockaddr.IfAddrs) string {
	for _, ia := range ifs {
		if ip := sockaddr.ToIPAddr(ia.SockAddr); ip != nil {
			return (*ip).NetIP().String()
		}
	}
	return ""
}

// joinIPs returns the addresses of ifs separated by spaces.
func joinIPs(ifs sockaddr.IfAddrs) string {
	ips := make([]string, 0, len(ifs))
	for _, ia := range ifs {
		if ip := sockaddr.ToIPAddr(ia.SockAddr); ip != nil {
			ips = append(ips, (*ip).NetIP().String())
		}
	}
	return strings.Join(ips, " ")
}

func (f *templateFuncs) getPrivateIP() (string, error) {
	ifs, err := f.getPrivateInterfaces()
	return firstIP(ifs), err
}

func (f *templateFuncs) getPublicIP() (string, error) {
	ifs, err := f.getPublicInterfaces()
	return firstIP(ifs), err
}

// sortedIPs is go-sockaddr's common start of GetPrivateIPs and
// GetPublicIPs: every IP address, sorted by type and size.
func (f *templateFuncs) sortedIPs() sockaddr.IfAddrs {
	ifs, _ := sockaddr.FilterIfByType(f.clone(), sockaddr.TypeIP)
	sockaddr.OrderedIfAddrBy(sockaddr.AscIfType, sockaddr.AscIfNetworkSize).Sort(ifs)
	return ifs
}

func (f *templateFuncs) getPrivateIPs() (string, error) {
	ifs, _, err := sockaddr.IfByRFC("6890", f.sortedIPs())
	if err != nil {
		return "", err
	}
	_, ifs, err = sockaddr.IfByRFC(sockaddr.ForwardingBlacklistRFC, ifs)
	return joinIPs(ifs), err
}

func (f *templateFuncs) getPublicIPs() (string, error) {
	_, ifs, err := sockaddr.IfByRFC("6890", f.sortedIPs())
	return joinIPs(ifs), err
}

// interfaceIPs is go-sockaddr's GetInterfaceIPs before formatting.
func (f *templateFuncs) interfaceIPs(nameRE string) (sockaddr.IfAddrs, error) {
	ifs, _, err := sockaddr.IfByName(nameRE, f.clone())
	if err != nil {
		return nil, err
	}
	ifs, _, err = sockaddr.IfByFlag("forwardable", ifs)
	if err != nil {
		return nil, err
	}
	return sockaddr.SortIfBy("+type,+size", ifs)
}

func (f *templateFuncs) getInterfaceIP(nameRE string) (string, error) {
	ifs, err := f.interfaceIPs(nameRE)
	return firstIP(ifs), err
}

func (f *templateFuncs) getInterfaceIPs(nameRE string) (string, error) {
	ifs, err := f.interfaceIPs(nameRE)
	return joinIPs(ifs), err
}
