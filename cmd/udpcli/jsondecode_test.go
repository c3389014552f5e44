package main

// The shapes tests decode udpcli's --json lines into: the command writes
// them with object (output.go), field beside value.

// benchResult is bench --json's line.
type benchResult struct {
	Target    string  `json:"addr"`
	Kind      string  `json:"kind"`
	InFlight  int     `json:"inflight"`
	Conns     int     `json:"conns"`
	Size      int     `json:"size"`
	ElapsedMs float64 `json:"elapsed_ms"`
	Sent      int     `json:"sent"`
	Replies   int     `json:"replies"`
	Lost      int     `json:"lost"`
	Nacks     int     `json:"nacks"`
	Limited   int     `json:"rate_limited"`
	PerSecond float64 `json:"replies_per_second"`
	P50       float64 `json:"rtt_p50_ms"`
	P90       float64 `json:"rtt_p90_ms"`
	P99       float64 `json:"rtt_p99_ms"`
	Max       float64 `json:"rtt_max_ms"`
	Mean      float64 `json:"rtt_avg_ms"`
}

// instanceJSON is a line of discover --json.
type instanceJSON struct {
	Instance   string         `json:"instance"`
	Service    string         `json:"service"`
	Addrs      []string       `json:"addrs"`
	Interface  string         `json:"interface"`
	FoundAfter *float64       `json:"found_after_ms"`
	TTL        float64        `json:"ttl_ms"`
	Attrs      map[string]any `json:"attrs"`
	Truncated  bool           `json:"truncated"`
	Conflict   bool           `json:"conflict"`
	Others     []string       `json:"others"`
	Host       string         `json:"host"`
}
