package metrics

import (
	"net/http"
	"runtime"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/internal/version"
	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"
)

// Announcer is what a Collector needs from a discovery.Announcer.
type Announcer interface {
	Stats() discovery.AnnouncerStats
}

// Collector is a prometheus.Collector for one udpserver.Server and,
// optionally, the Announcer that announces it.
type Collector struct {
	srv *udpserver.Server
	ann Announcer
}

// NewCollector returns a Collector of srv's counters; ann may be nil (the
// discovery metrics are then left out).
func NewCollector(srv *udpserver.Server, ann Announcer) *Collector {
	return &Collector{srv: srv, ann: ann}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("udpkit_"+name, help, labels, nil)
}

var (
	dReceived    = desc("datagrams_received_total", "Datagrams read from the server's sockets.")
	dHandled     = desc("messages_handled_total", "Handler runs, by kind: new DATA messages and raw (non-udpkit) datagrams.", "kind")
	dHandlerErr  = desc("handler_errors_total", "Handler runs that refused the message (NACK; silence for raw).")
	dPanics      = desc("handler_panics_total", "Handler runs that panicked (counted in handler_errors_total too).")
	dHandlerTime = desc("handler_duration_seconds", "How long handler runs took (needs udpserver.Server.MeasureHandlers).")
	dAcked       = desc("acks_sent_total", "ACKs and raw \"ack\" replies sent, repeats for duplicates included.")
	dNacked      = desc("nacks_sent_total", "NACKs sent, by reason code.", "code")
	dDuplicates  = desc("duplicates_total", "Retransmissions answered from the de-duplication table without running the handler.")
	dPongs       = desc("pongs_sent_total", "PINGs answered with a PONG.")
	dDropped     = desc("datagrams_dropped_total", "Datagrams dropped unanswered, by reason.", "reason")
	dRateLimited = desc("rate_limited_datagrams_total", "Datagrams over their source's rate limit (one NACK a second per source, the rest dropped).")
	dRateSources = desc("rate_limit_sources", "Sources in the rate-limit table.")
	dRateEvicted = desc("rate_limit_sources_evicted_total", "Sources forgotten because the rate-limit table was full.")
	dJailed      = desc("quarantined_sources", "Sources (IPv4 addresses, IPv6 /64s) served on a quarantine socket now, found flooding their own socket.")
	dJailedTotal = desc("quarantined_sources_total", "Sources jailed on a quarantine socket since the start (a source jailed twice counts twice).")
	dCookies     = desc("cookies_total", "Cookies (return-routability check, no keys): cookie NACKs sent (share_full: the part sent instead of NACK busy to unproved senders whose claimed de-duplication share was full), and DATA that echoed a valid or an invalid cookie.", "event")
	dDedup       = desc("dedup_entries", "Exchanges in the de-duplication table.")
	dDedupBytes  = desc("dedup_bytes", "Memory the de-duplication table holds, in bytes.")
	dDedupExpire = desc("dedup_expired_total", "Exchanges forgotten after the whole de-duplication window.")
	dBusy        = desc("dedup_busy_total", "New DATA messages refused with NACK busy because the de-duplication table had no room, by cause: full (the whole table), sender (one address and port's share), host (one host's share).", "cause")
	dReadErrors  = desc("socket_read_errors_total", "Socket read errors other than closing.")
	dWriteErrors = desc("socket_write_errors_total", "Replies the socket refused to send.")
	dSocketDrops = desc("socket_receive_drops_total", "Datagrams the kernel dropped before the server read them, almost always a full receive buffer (Linux /proc/net/udp drops).")
	dAnnounces   = desc("discovery_announcements_total", "Unsolicited ANNOUNCE messages sent, one per interface and round.")
	dQueries     = desc("discovery_queries_total", "Discovery queries received that ask for this server, every copy included.")
	dAnswers     = desc("discovery_answers_total", "Discovery answers sent.")
	dSuppressed  = desc("discovery_answers_suppressed_total", "Discovery queries not answered, by reason.", "reason")
	dBuildInfo   = desc("build_info", "The udpkit version and Go version the server was built with; always 1.", "version", "goversion")
)

// Describe sends the descriptors of every metric the Collector reports.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dReceived, dHandled, dHandlerErr, dPanics, dHandlerTime, dAcked,
		dNacked, dDuplicates, dPongs, dDropped, dRateLimited, dRateSources, dRateEvicted, dJailed, dJailedTotal, dCookies, dDedup,
		dDedupBytes, dDedupExpire, dBusy, dReadErrors, dWriteErrors, dSocketDrops, dBuildInfo} {
		ch <- d
	}
	if c.ann != nil {
		for _, d := range []*prometheus.Desc{dAnnounces, dQueries, dAnswers, dSuppressed} {
			ch <- d
		}
	}
}

// codeLabel is the code label of a NACK: the code's name with
// underscores, or its number for a code this release does not know.
func codeLabel(c wire.Code) string {
	return strings.ReplaceAll(c.String(), " ", "_")
}

// Collect reads the counters and sends them.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter(dReceived, st.Received)
	counter(dHandled, st.Handled-st.Raw, "data")
	counter(dHandled, st.Raw, "raw")
	counter(dHandlerErr, st.Rejected)
	counter(dPanics, st.Panics)
	ch <- handlerHistogram(st.HandlerTime)
	counter(dAcked, st.Acked)
	// Every code the protocol defines, so that a rate() over a code that
	// has not happened yet is 0, not absent; other codes once seen.
	for code, n := range st.NackedByCode {
		if wire.Code(code) == wire.CodeNone {
			continue
		}
		if code <= int(wire.CodeRateLimited) || n > 0 {
			counter(dNacked, n, codeLabel(wire.Code(code)))
		}
	}
	counter(dDuplicates, st.Duplicates)
	counter(dPongs, st.Pings)
	for _, r := range []struct {
		reason string
		n      uint64
	}{
		{"in_progress", st.InProgress},
		{"empty", st.Empty},
		{"raw_disabled", st.RawDropped},
		{"oversized", st.OversizedDropped},
		{"rate_limited", st.RateLimitedDropped},
		{"malformed_short", st.MalformedShort},
		{"malformed_version", st.MalformedVersion},
		{"malformed_type", st.MalformedType},
		{"malformed_flags", st.MalformedFlags},
		{"malformed_field", st.MalformedField},
		{"unexpected_type", st.Unexpected},
		{"auth_unsupported", st.AuthUnsupported},
		{"unauthenticated", st.Unauthenticated},
		{"bad_tag", st.BadTag},
		{"replayed", st.Replayed},
		{"stale", st.Stale},
		{"auth_senders_full", st.AuthSendersFull},
	} {
		counter(dDropped, r.n, r.reason)
	}
	counter(dRateLimited, st.RateLimited)
	gauge(dRateSources, st.RateSources)
	counter(dRateEvicted, st.RateEvicted)
	gauge(dJailed, st.Jailed)
	counter(dJailedTotal, st.JailedTotal)
	counter(dCookies, st.Cookies, "sent")
	counter(dCookies, st.CookieValid, "valid")
	counter(dCookies, st.CookieInvalid, "invalid")
	counter(dCookies, st.DedupCookies, "share_full")
	gauge(dDedup, st.DedupEntries)
	gauge(dDedupBytes, st.DedupBytes)
	counter(dDedupExpire, st.DedupExpired)
	counter(dBusy, st.DedupFull, "full")
	counter(dBusy, st.DedupOverShare, "sender")
	counter(dBusy, st.DedupOverHost, "host")
	counter(dReadErrors, st.ReadErrors)
	counter(dWriteErrors, st.WriteErrors)
	if drops, err := c.srv.SocketDrops(); err == nil {
		counter(dSocketDrops, drops)
	}
	ch <- prometheus.MustNewConstMetric(dBuildInfo, prometheus.GaugeValue, 1, version.String(), runtime.Version())
	if c.ann != nil {
		as := c.ann.Stats()
		counter(dAnnounces, as.Announcements)
		counter(dQueries, as.Queries)
		counter(dAnswers, as.Answers)
		counter(dSuppressed, as.Duplicates, "duplicate")
		counter(dSuppressed, as.KnownSuppressed, "known_answer")
		counter(dSuppressed, as.LimitedSource, "source_rate_limit")
		counter(dSuppressed, as.LimitedGlobal, "global_rate_limit")
	}
}

// handlerHistogram turns the server's histogram into Prometheus's
// cumulative buckets.
func handlerHistogram(h udpserver.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(udpserver.HistogramBounds))
	var cum uint64
	for i, b := range udpserver.HistogramBounds {
		cum += h.Buckets[i]
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(dHandlerTime, h.Count, h.Sum.Seconds(), buckets)
}

// NewRegistry returns a registry holding c, the Go runtime's metrics and
// the process's (CPU, memory, file descriptors, start time).
func NewRegistry(c *Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// NewHandler serves reg's metrics at /metrics and a liveness check at
// /healthz: 200 "ok" while healthy returns nil, 503 with its error after
// (a server shutting down). healthy may be nil: always healthy.
func NewHandler(reg *prometheus.Registry, healthy func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if healthy != nil {
			if err := healthy(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(err.Error() + "\n"))
				return
			}
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("udpserver: /metrics (Prometheus), /healthz\n"))
	})
	return mux
}
