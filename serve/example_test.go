package serve_test

import (
	"log"
	"log/slog"
	"net/http"
	"os"

	"resgo/serve"
)

// A server of one model, embedded in a Go program: what "resgo serve
// --checkpoint digits=runs/best.safetensors" runs, without its signal
// handling.
func Example() {
	s, err := serve.New(serve.Config{
		MaxBatch:   32,
		BatchDelay: serve.DefaultBatchDelay,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}, []serve.ModelSpec{{Name: "digits", Path: "runs/best.safetensors"}})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", s.Handler()))
}
