// Package metrics exposes a udpserver.Server's counters to Prometheus.
//
// A Collector reads Server.Stats (and, when given, an Announcer's Stats and
// the kernel's per-socket drop counts) at scrape time, so serving datagrams
// costs nothing more with metrics on: the counters are the ones the server
// keeps anyway. Only the handler-latency histogram needs
// Server.MeasureHandlers, two clock reads per handled datagram.
//
// Names follow the Prometheus conventions: a udpkit_ prefix, _total for
// counters, base units (seconds), labels for the parts of a whole (NACKs by
// code, drops by reason), and udpkit_build_info for the version:
//
//	udpkit_datagrams_received_total
//	udpkit_messages_handled_total{kind="data"|"raw"}
//	udpkit_handler_errors_total, udpkit_handler_panics_total
//	udpkit_handler_duration_seconds (histogram)
//	udpkit_acks_sent_total, udpkit_nacks_sent_total{code}
//	udpkit_duplicates_total, udpkit_pongs_sent_total
//	udpkit_datagrams_dropped_total{reason}
//	udpkit_rate_limited_datagrams_total, udpkit_rate_limit_sources, udpkit_rate_limit_sources_evicted_total
//	udpkit_quarantined_sources, udpkit_quarantined_sources_total
//	udpkit_cookies_total{event}: sent, valid, invalid
//	udpkit_dedup_entries, udpkit_dedup_bytes, udpkit_dedup_expired_total, udpkit_dedup_busy_total{cause}
//	udpkit_socket_read_errors_total, udpkit_socket_write_errors_total
//	udpkit_socket_receive_drops_total (receive-buffer overflows, Linux)
//	udpkit_discovery_announcements_total, udpkit_discovery_queries_total,
//	udpkit_discovery_answers_total, udpkit_discovery_answers_suppressed_total{reason}
//	udpkit_build_info{version,goversion}
//
// NewHandler serves the metrics at /metrics and a liveness check at
// /healthz; cmd/udpserver does so with --metrics ADDR.
package metrics
