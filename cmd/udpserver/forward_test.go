package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/udpkit/udpkit/internal/natstest"
	"github.com/udpkit/udpkit/wire"
)

func TestForwardUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--forward-subject", "x.y"}, "needs --forward"},
		{[]string{"--forward-create"}, "needs --forward"},
		{[]string{"--forward", "http://127.0.0.1:4222"}, "want nats://HOST:PORT"},
		{[]string{"--forward", "127.0.0.1:4222"}, "want nats://HOST:PORT"},
		{[]string{"--forward", "nats://127.0.0.1:4222", "--forward-subject", "udpkit.>"}, "invalid --forward-subject"},
		{[]string{"--forward", "nats://127.0.0.1:4222", "--forward-subject", "a..b"}, "invalid --forward-subject"},
		{[]string{"--forward", "nats://127.0.0.1:4222", "--forward-timeout", "0"}, "--forward-timeout"},
		{[]string{"--forward", "nats://127.0.0.1:4222", "--forward-pending", "0"}, "--forward-pending"},
		{[]string{"--forward", "nats://127.0.0.1:4222", "--forward-tls-cert", "c.pem"}, "go together"},
	} {
		var stderr bytes.Buffer
		if s := run(context.Background(), tc.args, io.Discard, &stderr); s != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.args, s, stderr.String(), exitUsage, tc.want)
		}
	}
}

// Start-up errors are clear and exit 1 before anything listens: no broker,
// no stream.
func TestForwardStartupErrors(t *testing.T) {
	node := natstest.Start(t)
	url := node.URL()
	var stderr bytes.Buffer
	if s := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--no-announce", "--forward", url}, io.Discard, &stderr); s != exitFailed ||
		!strings.Contains(stderr.String(), "no JetStream stream stores the subject") || !strings.Contains(stderr.String(), "--forward-create") ||
		strings.Contains(stderr.String(), "listening") {
		t.Errorf("no stream: exit %d, %q", s, stderr.String())
	}
	node.Stop()
	stderr.Reset()
	if s := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--no-announce", "--forward", url}, io.Discard, &stderr); s != exitFailed ||
		!strings.Contains(stderr.String(), "cannot reach the NATS server") {
		t.Errorf("no broker: exit %d, %q", s, stderr.String())
	}
}

func TestForwardStores(t *testing.T) {
	node := natstest.Start(t)
	addr, stdout, stderr, stop := start(t, "--listen", "127.0.0.1:0", "--no-announce", "--instance", "kitchen",
		"--forward", node.URL(), "--forward-create", "--forward-stream", "READINGS", "--forward-subject", "home.{instance}.{source}")
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for id := uint64(1); id <= 20; id++ {
		if r := exchange(t, c, wire.AppendData(nil, id, []byte("reading"))); !bytes.Equal(r, wire.AppendAck(nil, id)) {
			t.Fatalf("reply %x, want ACK %d", r, id)
		}
	}
	exchange(t, c, wire.AppendData(nil, 20, []byte("reading"))) // a retransmission
	if s := stop(); s != exitOK {
		t.Errorf("exit %d: %s", s, stderr)
	}
	if stdout.String() != "" {
		t.Errorf("stdout %q: with --forward the messages go to the stream", stdout)
	}
	nc, err := nats.Connect(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := njs.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "READINGS")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	if info.State.Msgs != 20 || info.Config.Duplicates < 2*time.Minute {
		t.Errorf("stream holds %d messages with a %v duplicate window, want 20 and 2m", info.State.Msgs, info.Config.Duplicates)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "home.kitchen.127_0_0_1" || string(m.Data) != "reading" {
		t.Errorf("message %q on %q", m.Data, m.Subject)
	}
	if !strings.Contains(stderr.String(), `"stored":20`) {
		t.Errorf("no forward summary in the log: %s", stderr)
	}
}

// The credential and TLS flags reach the NATS connection: a server that
// wants an NKey refuses udpserver without --forward-nkey and takes it with;
// a TLS server is reached through tls:// with --forward-tls-ca, and not
// without it.
func TestForwardNkeyAndTLS(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	pub, _ := user.PublicKey()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	ca, cert := selfSigned(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	node := natstest.StartWith(t, func(o *server.Options) {
		o.Nkeys = []*server.NkeyUser{{Nkey: pub}}
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		o.TLS = true
	})
	base := []string{"--listen", "127.0.0.1:0", "--no-announce", "--forward", node.URL(), "--forward-create"}
	for _, tc := range []struct {
		extra []string
		want  string
	}{
		{[]string{"--forward-tls-ca", caFile}, "uthorization"},
		{[]string{"--forward-nkey", seedFile}, "certificate"},
	} {
		var stderr bytes.Buffer
		if s := run(context.Background(), append(base, tc.extra...), io.Discard, &stderr); s != exitFailed || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.extra, s, stderr.String(), exitFailed, tc.want)
		}
	}
	addr, _, stderr, stop := start(t, append(base, "--forward-nkey", seedFile, "--forward-tls-ca", caFile)...)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r := exchange(t, c, wire.AppendData(nil, 1, []byte("over TLS"))); !bytes.Equal(r, wire.AppendAck(nil, 1)) {
		t.Errorf("reply %x, want ACK", r)
	}
	if s := stop(); s != exitOK || !strings.Contains(stderr.String(), `"stored":1`) {
		t.Errorf("exit %d: %s", s, stderr)
	}
}

// selfSigned returns a self-signed certificate for 127.0.0.1, as PEM and
// as a tls.Certificate.
func selfSigned(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "udpkit test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
