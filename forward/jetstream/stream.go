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

// ValidTemplate reports whether tmpl makes valid subjects whatever its
// fields are filled with.
func ValidTemplate(tmpl string) error {
	return ValidSubject(fill(tmpl, "x"))
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
// name exists, and reports whether it created it. Storage defaults to
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
		return false, fmt.Errorf("stream %q: %w", cfg.Name, err)
	}
	cfg.Duplicates = max(cfg.Duplicates, MinDuplicates)
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		return false, fmt.Errorf("creating stream %q: %w", cfg.Name, err)
	}
	return true, nil
}
