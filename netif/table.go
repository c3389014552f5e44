package netif

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// WriteTable writes s as an aligned, human-readable table: one block per
// selected interface (name, index, MTU, flags, IPv4 address and broadcast,
// IPv6 addresses, one address per line), then the skipped interfaces with
// the reason, as udpcli ifaces shows them.
//
//	NAME  INDEX  MTU   FLAGS                           IPV4            BROADCAST     IPV6
//	eth0  2      1500  up|broadcast|multicast|running  198.18.0.10/24  198.18.0.255  fe80::1%eth0
//	                                                                                 fd18::10/64
//
//	SKIPPED  REASON
//	lo       loopback
func (s Selection) WriteTable(w io.Writer) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tINDEX\tMTU\tFLAGS\tIPV4\tBROADCAST\tIPV6")
	if len(s.Interfaces) == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	for _, ifi := range s.Interfaces {
		var v6 []string
		if ifi.IPv6LinkLocal.IsValid() {
			v6 = append(v6, ifi.IPv6LinkLocal.String())
		}
		for _, p := range ifi.IPv6 {
			v6 = append(v6, p.String())
		}
		rows := max(1, len(ifi.IPv4), len(v6))
		for r := range rows {
			var name, index, mtu, flags, v4, bcast, six string
			if r == 0 {
				name, index, mtu = ifi.Name, strconv.Itoa(ifi.Index), strconv.Itoa(ifi.MTU)
				flags = ifi.Flags.String()
				if flags == "0" {
					flags = "-"
				}
			}
			if r < len(ifi.IPv4) {
				v4 = ifi.IPv4[r].Addr.String()
				bcast = "-"
				if ifi.IPv4[r].Broadcast.IsValid() {
					bcast = ifi.IPv4[r].Broadcast.String()
				}
			}
			if r < len(v6) {
				six = v6[r]
			}
			if r == 0 && v4 == "" {
				v4, bcast = "-", "-"
			}
			if r == 0 && six == "" {
				six = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, index, mtu, flags, v4, bcast, six)
		}
	}
	tw.Flush() // cannot fail: buf does not
	if len(s.Skipped) > 0 {
		tw = tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nSKIPPED\tREASON")
		for _, sk := range s.Skipped {
			fmt.Fprintf(tw, "%s\t%s\n", sk.Name, sk.Reason)
		}
		tw.Flush()
	}
	// Blank cells at the end of a row leave padding behind: trim it.
	var out bytes.Buffer
	for line := range bytes.Lines(buf.Bytes()) {
		out.Write(bytes.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	if _, err := w.Write(out.Bytes()); err != nil {
		return fmt.Errorf("writing interface table: %w", err)
	}
	return nil
}
