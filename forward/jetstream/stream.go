package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
)

// fields are the placeholders of a subject template.
var fields = []string{"{instance}", "{service}", "{source}"}

// Placeholders lists the fields a subject template may contain.
const Placeholders = "{instance}, {service}, {source}"

// ValidTemplate reports whether tmpl makes valid subjects whatever its
// fields are filled with. A brace left after the known fields (a typo such
// as {instace}) is an error: it would be published literally.
func ValidTemplate(tmpl string) error {
	rest := fill(tmpl, "x")
	if i := strings.IndexAny(rest, "{}"); i >= 0 {
		bad := rest[i:]
		if j := strings.IndexByte(bad, '}'); bad[0] == '{' && j > 0 {
			bad = bad[:j+1]
		} else {
			bad = bad[:1]
		}
		return fmt.Errorf("unknown placeholder %q: the known ones are %s", bad, Placeholders)
	}
	return ValidSubject(rest)
}

// StreamSubject returns the subject filter that stores every subject tmpl
// makes: each field becomes the wildcard *.
func StreamSubject(tmpl string) string { return fill(tmpl, "*") }

func fill(tmpl, with string) string {
	for _, f := range fields {
		tmpl = strings.ReplaceAll(tmpl, f, with)
	}
	return tmpl
}

// EnsureStream creates the stream cfg describes unless a stream of that
// name exists, and reports whether it created it. It never changes an
// existing stream: if that one does not store the forwarder's subject, New
// says so (ErrNotStored), and widening it is the operator's decision
// (nats stream edit). Storage defaults to
// file, and the duplicate window to MinDuplicates (it is raised to that
// when shorter): the window over which a retransmission is stored once.
func EnsureStream(ctx context.Context, nc *nats.Conn, cfg njs.StreamConfig) (bool, error) {
	js, err := njs.New(nc)
	if err != nil {
		return false, err
	}
	if _, err := js.Stream(ctx, cfg.Name); err == nil {
		return false, nil
	} else if !errors.Is(err, njs.ErrStreamNotFound) {
		return false, fmt.Errorf("stream %q: %w", cfg.Name, noJetStream(err))
	}
	cfg.Duplicates = max(cfg.Duplicates, MinDuplicates)
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		return false, fmt.Errorf("creating stream %q: %w", cfg.Name, err)
	}
	return true, nil
}

// covers reports whether the subject filter filter matches every subject
// that pattern (a subject whose tokens may be the wildcard *) matches.
func covers(filter, pattern string) bool {
	ft, pt := strings.Split(filter, "."), strings.Split(pattern, ".")
	for i, f := range ft {
		if f == ">" {
			return i < len(pt)
		}
		if i >= len(pt) {
			return false
		}
		if f != "*" && f != pt[i] {
			return false
		}
	}
	return len(ft) == len(pt)
}

// coveredBy reports whether one of the stream's subject filters covers
// pattern. A stream without subjects stores its own name as the subject.
func coveredBy(cfg njs.StreamConfig, pattern string) bool {
	subjects := cfg.Subjects
	if len(subjects) == 0 {
		subjects = []string{cfg.Name}
	}
	for _, f := range subjects {
		if covers(f, pattern) {
			return true
		}
	}
	return false
}
