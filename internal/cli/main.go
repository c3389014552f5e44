package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Main runs the program with the process's arguments and standard streams
// and exits with its status: the one signal set-up of the tools. Ctrl-C
// and SIGTERM end the context; the status signals (statusSignals: SIGQUIT,
// SIGUSR1, and SIGINFO where it exists) are caught from the start, so that
// SIGQUIT never ends a tool with a Go stack dump, and reach the command as
// IO.Status.
func (p *Program) Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	status := make(chan os.Signal, 1)
	if len(statusSignals) > 0 { // Notify with no signal would relay all of them
		signal.Notify(status, statusSignals...)
	}
	code := p.Run(ctx, os.Args[1:], IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Status: status})
	stop()
	os.Exit(code)
}

// StatusRequests turns io.Status, the signals that ask for an interim
// status line, into a channel of requests (the Status of client.Bench and
// client.PingRun), until ctx ends. A request made while one is pending is
// merged with it.
func (io IO) StatusRequests(ctx context.Context) <-chan struct{} {
	status := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-io.Status:
				select {
				case status <- struct{}{}:
				default:
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return status
}
