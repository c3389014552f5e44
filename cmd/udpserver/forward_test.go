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
		{[]string{"--forward", "nats://127.0.0.1:4222", "--forward-timeout", "0"}, "want more than 0 seconds"},
		{[]string{"--forward", "nats://127.0.0.1:4222", "--forward-timeout", "-1"}, "want more than 0 seconds"},
		{[]string{"--forward", "nats://127.0.0.1:4222", "--forward-subject", "a.{bogus}"}, `unknown placeholder "{bogus}": the known ones are {instance}, {service}, {source}`},
		{[]string{"--forward", "nats://127.0.0.1:4222", "--forward-subject", "udpkit.{instace}"}, `unknown placeholder "{instace}"`},
		{[]string{"--forward", "nats://127.0.0.1:4222", "--forward-pending", "0"}, "--forward-pending"},
		{[]string{"--forward", "nats://127.0.0.1:4222", "--forward-ping", "0"}, "want more than 0 seconds"},
		{[]string{"--forward-ping", "1"}, "needs --forward"},
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

// A stream that exists but does not store the subject stops udpserver at
// start-up (exit 1), naming the stream, its subjects and our subject, with
// or without --forward-create (which never widens an existing stream).
func TestForwardStreamNotStoringSubject(t *testing.T) {
	node := natstest.Start(t)
	nc, err := nats.Connect(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := njs.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, njs.StreamConfig{Name: "UDPKIT", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	base := []string{"--listen", "127.0.0.1:0", "--no-announce", "--instance", "kitchen", "--forward", node.URL()}
	for _, tc := range []struct {
		extra []string
		want  string
	}{
		{[]string{"--forward-create"}, "does not change an existing one"},
		{[]string{"--forward-stream", "UDPKIT"}, "nats stream edit UDPKIT"},
	} {
		var stderr bytes.Buffer
		s := run(context.Background(), append(base, tc.extra...), io.Discard, &stderr)
		for _, want := range []string{tc.want, `stream "UDPKIT" stores ["other.>"]`, `"udpkit.kitchen"`} {
			if s != exitFailed || !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "listening") {
				t.Errorf("%v: exit %d, %q; want %d and %q", tc.extra, s, stderr.String(), exitFailed, want)
			}
		}
	}
}

// No credential of a --forward URL (token, user, password) reaches the
// log or an error message.
func TestForwardRedactsCredentials(t *testing.T) {
	node := natstest.StartWith(t, func(o *server.Options) { o.Authorization = "sekrit" })
	tokenURL := strings.Replace(node.URL(), "://", "://sekrit@", 1)
	_, _, stderr, stop := start(t, "--listen", "127.0.0.1:0", "--no-announce", "--forward", tokenURL, "--forward-create")
	if s := stop(); s != exitOK {
		t.Fatalf("exit %d: %s", s, stderr)
	}
	if strings.Contains(stderr.String(), "sekrit") || !strings.Contains(stderr.String(), "forwarding to JetStream") {
		t.Errorf("token in the log, or no forwarding line: %s", stderr)
	}
	for _, args := range [][]string{
		{"--forward", "nats://alice:hunter2@127.0.0.1:1"},                         // unreachable
		{"--forward", strings.Replace(node.URL(), "://", "://alice:hunter2@", 1)}, // refused
		{"--forward", "nats://alice:hunter2@127.0.0.1:1/x y%zz"},                  // not a URL
		{"--forward", "http://hunter2@127.0.0.1:1"},                               // wrong scheme
	} {
		var stderr bytes.Buffer
		s := run(context.Background(), append([]string{"--listen", "127.0.0.1:0", "--no-announce"}, args...), io.Discard, &stderr)
		if s == exitOK || strings.Contains(stderr.String(), "hunter2") || !strings.Contains(stderr.String(), "REDACTED@127.0.0.1:1") && !strings.Contains(stderr.String(), "REDACTED@127.0.0.1") {
			t.Errorf("%v: exit %d, %q: want an error without the password", args, s, stderr.String())
		}
	}
}

// The broker's and the files' faults are named as such: a server without
// JetStream, wrong credentials, a missing or malformed credentials, CA or
// certificate file.
func TestForwardNamesTheFault(t *testing.T) {
	plain := natstest.StartWith(t, func(o *server.Options) { o.JetStream = false })
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--listen", "127.0.0.1:0", "--no-announce", "--forward", plain.URL()}
	for _, tc := range []struct {
		extra []string
		want  string
	}{
		{nil, "JetStream is not enabled on the NATS server"},
		{[]string{"--forward-create"}, "JetStream is not enabled on the NATS server"},
		{[]string{"--forward-creds", filepath.Join(dir, "missing.creds")}, "--forward-creds " + filepath.Join(dir, "missing.creds") + ": not a usable NATS credentials file"},
		{[]string{"--forward-creds", junk}, "not a usable NATS credentials file"},
		{[]string{"--forward-nkey", junk}, "--forward-nkey"},
		{[]string{"--forward-tls-ca", junk}, "--forward-tls-ca " + junk + ": not a usable CA certificate file"},
		{[]string{"--forward-tls-ca", filepath.Join(dir, "missing.pem")}, "not a usable CA certificate file"},
		{[]string{"--forward-tls-cert", junk, "--forward-tls-key", junk}, "not a usable certificate and key"},
	} {
		var stderr bytes.Buffer
		s := run(context.Background(), append(base, tc.extra...), io.Discard, &stderr)
		if s != exitFailed || !strings.Contains(stderr.String(), tc.want) || strings.Contains(stderr.String(), "cannot reach") || strings.Contains(stderr.String(), "no responders") {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.extra, s, stderr.String(), exitFailed, tc.want)
		}
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
