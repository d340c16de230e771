package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"resgo/compute"
	"resgo/serve"
)

func init() {
	register(&command{name: "serve", summary: "serve models over HTTP: inference APIs, metrics and a page to draw on", run: runServe})
}

const serveSynopsis = `
Usage: resgo serve --checkpoint [NAME=]FILE... [flags]

Serves the models saved in the checkpoints over HTTP, each under its NAME
(default: the checkpoint's model name, such as "resnet"):

  GET  /                                   a page to draw a digit on
  POST /v1/models/NAME:classify            a PNG, JPEG or GIF picture (body
                                           or multipart upload)
  POST /v2/models/NAME/infer               Open Inference Protocol v2
  GET  /v2/models/NAME, .../ready          model metadata and readiness
  GET  /v2, /v2/health/live, /ready        server metadata and health
  POST /v1/models/NAME:predict             TensorFlow Serving REST
  GET  /v1/models/NAME, .../metadata       TensorFlow Serving status, metadata
  POST /v2/repository/models/NAME/load     reload NAME's checkpoint
  GET  /metrics                            Prometheus metrics

Concurrent requests are batched into one forward pass of up to --max-batch
images; --threads/--pass-threads passes run at once, each on
--pass-threads threads. SIGTERM or SIGINT stops accepting requests, finishes those under
way and exits 0 (a second signal stops waiting: exit 1); SIGHUP reloads every checkpoint from its file (a file that
cannot be loaded or holds another network is refused, and the old model
keeps serving). One log line per request goes to stderr unless --quiet.`

// checkpointFlags collects the repeated --checkpoint [NAME=]FILE.
type checkpointFlags []serve.ModelSpec

func (c *checkpointFlags) String() string { return "" }

func (c *checkpointFlags) Set(v string) error {
	spec := serve.ModelSpec{Path: v}
	if name, file, ok := strings.Cut(v, "="); ok && serve.ValidName(name) {
		spec = serve.ModelSpec{Name: name, Path: file}
	}
	if spec.Path == "" {
		return errors.New("empty FILE")
	}
	*c = append(*c, spec)
	return nil
}

func runServe(args []string, stdout, stderr io.Writer) error {
	var (
		specs           checkpointFlags
		addr            string
		threads         int
		cfg             serve.Config
		shutdownTimeout time.Duration
	)
	fs := newFlags("serve", serveSynopsis, stdout)
	fs.Var(&specs, "checkpoint", "a checkpoint `[NAME=]FILE` to serve (repeatable)")
	fs.StringVar(&addr, "addr", "127.0.0.1:8080", "the `HOST:PORT` to listen on (\":8080\" for all interfaces)")
	fs.IntVar(&threads, "threads", runtime.NumCPU(), "worker threads of the forward passes, in all")
	fs.IntVar(&cfg.PassThreads, "pass-threads", 1, "threads of one forward pass: --threads/--pass-threads passes run at once")
	fs.IntVar(&cfg.MaxBatch, "max-batch", serve.DefaultMaxBatch, "the most images in one forward pass (1: no batching)")
	fs.DurationVar(&cfg.BatchDelay, "batch-delay", serve.DefaultBatchDelay, "the longest a request waits for others to batch with")
	fs.IntVar(&cfg.MaxQueue, "max-queue", serve.DefaultMaxQueue, "requests waiting per model, and in flight in all; more get 429 or 503")
	fs.Int64Var(&cfg.MaxBody, "max-body", serve.DefaultMaxBody, "the largest request body in `bytes` (more: 413)")
	fs.Int64Var(&cfg.MaxPixels, "max-pixels", serve.DefaultMaxPixels, "the largest picture, width×height, decoded (more: 413)")
	fs.DurationVar(&cfg.Timeout, "timeout", serve.DefaultTimeout, "the longest a request may take (more: 504)")
	fs.DurationVar(&shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, the longest to wait for requests under way")
	fs.BoolVar(&cfg.Quiet, "quiet", false, "no log line per request")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case len(specs) == 0:
		return badFlag("serve", "--checkpoint FILE is required")
	case threads < 1 || threads > maxThreads:
		return badFlag("serve", "--threads must be 1 to %d, got %d", maxThreads, threads)
	case cfg.PassThreads < 1 || cfg.PassThreads > threads:
		return badFlag("serve", "--pass-threads must be 1 to --threads (%d), got %d", threads, cfg.PassThreads)
	case cfg.MaxBatch < 1:
		return badFlag("serve", "--max-batch must be at least 1, got %d", cfg.MaxBatch)
	case cfg.BatchDelay < 0:
		return badFlag("serve", "--batch-delay must be 0 or more, got %v", cfg.BatchDelay)
	case cfg.MaxQueue < 1:
		return badFlag("serve", "--max-queue must be at least 1, got %d", cfg.MaxQueue)
	case cfg.MaxBody < 1:
		return badFlag("serve", "--max-body must be at least 1, got %d", cfg.MaxBody)
	case cfg.MaxPixels < 1:
		return badFlag("serve", "--max-pixels must be at least 1, got %d", cfg.MaxPixels)
	case cfg.Timeout <= 0:
		return badFlag("serve", "--timeout must be more than 0, got %v", cfg.Timeout)
	case shutdownTimeout <= 0:
		return badFlag("serve", "--shutdown-timeout must be more than 0, got %v", shutdownTimeout)
	}
	compute.SetThreads(threads)
	cfg.Threads = threads
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Logger = logger
	cfg.Version = version
	srv, err := serve.New(cfg, specs)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer srv.Close()

	// Signals are caught before the address is printed: whoever reads it
	// may signal at once.
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sig)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %v", err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.Timeout + 5*time.Second,
		WriteTimeout:      cfg.Timeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Connections open, so that a shutdown can wait for clients to close
	// the kept-alive ones.
	var open atomic.Int64
	hs.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	logger.Info("serving", "url", "http://"+ln.Addr().String()+"/", "models", strings.Join(srv.Models(), ","),
		"max_batch", cfg.MaxBatch, "threads", threads, "pass_threads", cfg.PassThreads)

	for {
		select {
		case err := <-served:
			return fmt.Errorf("serve: %v", err)
		case s := <-sig:
			if s == syscall.SIGHUP {
				if err := srv.ReloadAll(); err == nil {
					logger.Info("SIGHUP: reloaded every checkpoint")
				}
				continue
			}
			// Stop accepting connections, and answer every request with
			// "Connection: close" so that clients close their kept-alive
			// connections themselves after their answer. Closing one from
			// this side could cross a request just sent on it, which the
			// client would see lost. Connections still open after the
			// grace period (idle clients) are closed by Shutdown.
			srv.SetDraining()
			ln.Close()
			logger.Info("shutting down: finishing the requests under way", "signal", s.String(), "timeout", shutdownTimeout.String())
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			grace := time.Now().Add(min(shutdownTimeout/2, 2*time.Second))
			for open.Load() > 0 && time.Now().Before(grace) && ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			go func() { // a second SIGTERM or Ctrl-C: stop waiting
				for {
					select {
					case s := <-sig:
						if s != syscall.SIGHUP {
							logger.Warn("second signal: closing the connections now", "signal", s.String())
							cancel()
							return
						}
					case <-ctx.Done():
						return
					}
				}
			}()
			err := hs.Shutdown(ctx)
			cancel()
			if err != nil {
				hs.Close()
				return fmt.Errorf("serve: requests still under way after --shutdown-timeout %v: %v", shutdownTimeout, err)
			}
			logger.Info("stopped")
			return nil
		}
	}
}
