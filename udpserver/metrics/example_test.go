package metrics_test

import (
	"context"
	"log"
	"net/http"

	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/udpserver/metrics"
)

// A server with its metrics at http://127.0.0.1:9799/metrics.
func Example() {
	srv := &udpserver.Server{MeasureHandlers: true} // for udpkit_handler_duration_seconds
	reg := metrics.NewRegistry(metrics.NewCollector(srv, nil))
	go func() {
		log.Print(http.ListenAndServe("127.0.0.1:9799", metrics.NewHandler(reg, nil)))
	}()
	log.Print(srv.ListenAndServe(context.Background(), "127.0.0.1:9797"))
}
