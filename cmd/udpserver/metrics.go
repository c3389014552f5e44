package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/udpserver/metrics"
)

// serveMetrics serves s's metrics over HTTP on addr until the returned
// stop is called. /healthz turns to 503 as soon as ctx ends (the server is
// stopping), so that a load balancer stops sending before the sockets close.
func serveMetrics(ctx context.Context, addr string, s *udpserver.Server, ann *discovery.Announcer, log *slog.Logger) (stop func(), err error) {
	var a metrics.Announcer
	if ann != nil {
		a = ann
	}
	healthy := func() error {
		if ctx.Err() != nil {
			return errors.New("stopping")
		}
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	hs := &http.Server{
		Handler:           metrics.NewHandler(metrics.NewRegistry(metrics.NewCollector(s, a)), healthy),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		<-done
	}, nil
}
