package cli

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestStatusRequests: each status signal becomes a request.
func TestStatusRequests(t *testing.T) {
	sig := make(chan os.Signal, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := IO{Status: sig}.StatusRequests(ctx)
	sig <- syscall.SIGUSR1
	select {
	case <-req:
	case <-time.After(10 * time.Second):
		t.Fatal("no request for a signal")
	}
	sig <- syscall.SIGQUIT
	select {
	case <-req:
	case <-time.After(10 * time.Second):
		t.Fatal("no request for the second signal")
	}
	cancel()
}
