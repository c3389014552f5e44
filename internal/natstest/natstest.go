// Package natstest runs real NATS servers with JetStream for tests: an
// embedded github.com/nats-io/nats-server, alone or as a cluster of three,
// every port (client and cluster) bound to 127.0.0.1, storage in the test's
// temporary directory. Nodes can be stopped and started again on the same
// ports and storage, to test a broker that goes away and comes back.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Node is one NATS server with JetStream.
type Node struct {
	t    testing.TB
	opts server.Options
	mu   sync.Mutex
	srv  *server.Server
}

// Cluster is a set of nodes that route to each other (one node: no
// cluster at all).
type Cluster struct {
	Nodes []*Node
}

// Start starts one JetStream server on 127.0.0.1 and stops it when the
// test ends.
func Start(t testing.TB) *Node {
	t.Helper()
	return StartCluster(t, 1).Nodes[0]
}

// StartCluster starts n JetStream servers on 127.0.0.1 that form one
// cluster (n 1 or at least 3, the smallest Raft group that survives the
// loss of a node), waits until JetStream has a leader, and stops them when
// the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return startCluster(t, n, nil)
}

// StartWith starts one JetStream server as Start does, after edit changed
// its options (authentication, TLS).
func StartWith(t testing.TB, edit func(*server.Options)) *Node {
	t.Helper()
	return startCluster(t, 1, edit).Nodes[0]
}

func startCluster(t testing.TB, n int, edit func(*server.Options)) *Cluster {
	t.Helper()
	if n != 1 && n < 3 {
		t.Fatalf("natstest: a cluster of %d nodes; want 1, or 3 or more", n)
	}
	c := &Cluster{}
	clientPorts, routePorts := freePorts(t, n), freePorts(t, n)
	var routes []*url.URL
	if n > 1 {
		for _, p := range routePorts {
			routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
		}
	}
	for i := range n {
		o := server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			NoSigs:     true,
			NoLog:      true,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			// Small limits: a test never stores much.
			JetStreamMaxMemory: 64 << 20,
			JetStreamMaxStore:  256 << 20,
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "udpkit-test", Host: "127.0.0.1", Port: routePorts[i]}
			o.Routes = routes
		}
		if edit != nil {
			edit(&o)
		}
		c.Nodes = append(c.Nodes, &Node{t: t, opts: o})
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, nd := range c.Nodes {
		wg.Go(func() { errs[i] = nd.start() })
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, nd := range c.Nodes {
			nd.Stop()
		}
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n > 1 {
		c.WaitLeader(t, 30*time.Second)
	}
	return c
}

// URL is the client URL of every node, comma-separated (what nats.Connect
// takes).
func (c *Cluster) URL() string {
	var urls []string
	for _, nd := range c.Nodes {
		urls = append(urls, nd.URL())
	}
	return strings.Join(urls, ",")
}

// WaitLeader waits until one running node is the JetStream meta leader,
// it knows every running node as a peer, and every running node is
// current with it. Before that, a stream with more than one replica may be
// refused or its create request left unanswered (seen on a loaded CI
// machine).
func (c *Cluster) WaitLeader(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c.ready() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("natstest: no JetStream leader with all %d nodes current after %v", len(c.Nodes), d)
}

func (c *Cluster) ready() bool {
	leader, running := false, 0
	var peers int
	for _, nd := range c.Nodes {
		s := nd.server()
		if s == nil {
			continue
		}
		running++
		if !s.JetStreamIsCurrent() {
			return false
		}
		if s.JetStreamIsLeader() {
			leader = true
			peers = len(s.JetStreamClusterPeers())
		}
	}
	return leader && peers >= running
}

// URL is the node's client URL, nats://127.0.0.1:PORT (tls:// with TLS).
func (nd *Node) URL() string {
	scheme := "nats"
	if nd.opts.TLSConfig != nil {
		scheme = "tls"
	}
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, nd.opts.Port)
}

// Port is the node's client port.
func (nd *Node) Port() int { return nd.opts.Port }

// Stop shuts the node down (it may be started again). Stopping a stopped
// node does nothing.
func (nd *Node) Stop() {
	nd.mu.Lock()
	s := nd.srv
	nd.srv = nil
	nd.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart starts a stopped node again, on the same ports with the same
// storage.
func (nd *Node) Restart() {
	nd.t.Helper()
	if err := nd.start(); err != nil {
		nd.t.Fatal(err)
	}
}

func (nd *Node) server() *server.Server {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.srv
}

func (nd *Node) start() error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.srv != nil {
		return nil
	}
	o := nd.opts // NewServer keeps and changes its options
	s, err := server.NewServer(&o)
	if err != nil {
		return fmt.Errorf("natstest: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("natstest: server %s not ready on %s", o.ServerName, nd.URL())
	}
	nd.srv = s
	return nil
}

// freePorts returns n TCP ports on 127.0.0.1 that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
