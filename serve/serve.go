// Package serve is resgo's HTTP inference server: it serves trained models
// through the Open Inference Protocol v2 (KServe, Triton, Seldon), the
// TensorFlow Serving REST API, a :classify route that takes a picture,
// Prometheus metrics and a page to draw a digit on.
//
// Concurrent requests for a model are batched: a model's batcher takes the
// requests queued for it and runs them through one forward pass of up to
// Config.MaxBatch images, waiting at most Config.BatchDelay for a batch to
// fill; Config.Threads/Config.PassThreads passes run at once, each on a copy
// of the model that shares its weights (resgo.Model.WithThreads). Everything a client can send is bounded: the body, the pixels of an
// image (checked from its header before it is decoded), the queue, the
// requests in flight and the time each may take. A full queue is answered at
// once (429, or 503 beyond the in-flight cap) instead of piling up.
//
// The server is inference only: it uses the root package resgo and never
// the training packages.
package serve

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"resgo"
	"resgo/imageprep"
)

// Config sets a Server's limits. Zero fields take the defaults below,
// except BatchDelay.
type Config struct {
	MaxBatch   int           // images in one forward pass (1: no batching); default 16
	BatchDelay time.Duration // longest wait for a batch to fill; 0 takes what is queued (DefaultBatchDelay: 2ms)
	// Threads is the number of threads that run a model's forward passes,
	// default GOMAXPROCS; PassThreads, default 1, is that of one pass:
	// Threads/PassThreads passes run at once, each on its own copy of the
	// model's buffers.
	Threads, PassThreads int
	MaxQueue             int   // requests waiting per model, and requests in flight; default 256
	MaxBody              int64 // bytes in a request body; default 8 MiB
	// BodyMemory caps the bytes of request bodies held at once, in all
	// requests; a request that would go over gets 503. Default 256 MiB.
	BodyMemory int64
	MaxPixels  int64         // width×height of an image accepted; default 16 megapixels
	Timeout    time.Duration // the longest a request may take; default 10s
	// Logger gets reloads and, unless Quiet, one line per request; nil
	// logs nothing.
	Logger *slog.Logger
	Quiet  bool
	// Version is the server version reported by GET /v2.
	Version string
}

// Defaults of Config.
const (
	DefaultMaxBatch   = 16
	DefaultBatchDelay = 2 * time.Millisecond
	DefaultMaxQueue   = 256
	DefaultMaxBody    = 8 << 20
	DefaultBodyMemory = 256 << 20
	DefaultMaxPixels  = 16 << 20
	DefaultTimeout    = 10 * time.Second
)

func (c *Config) setDefaults() {
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	c.BatchDelay = max(c.BatchDelay, 0)
	if c.Threads <= 0 {
		c.Threads = runtime.GOMAXPROCS(0)
	}
	c.PassThreads = min(max(c.PassThreads, 1), c.Threads)
	if c.MaxQueue <= 0 {
		c.MaxQueue = DefaultMaxQueue
	}
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.BodyMemory <= 0 {
		c.BodyMemory = DefaultBodyMemory
	}
	if c.MaxPixels <= 0 {
		c.MaxPixels = DefaultMaxPixels
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

// ModelSpec names a checkpoint to serve. An empty Name takes the
// checkpoint's model name (such as "resnet").
type ModelSpec struct {
	Name string
	Path string
}

// validName is what a model name may be: it appears in URL paths, and
// ":predict" follows it in TensorFlow Serving's.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ValidName reports whether name can name a served model: letters, digits,
// '_', '.' and '-', starting with a letter or digit.
func ValidName(name string) bool { return validName.MatchString(name) && len(name) <= 128 }

// Server serves models over HTTP. Create it with New, serve Handler, and
// Close it when the HTTP server has shut down.
type Server struct {
	cfg      Config
	models   map[string]*entry
	names    []string // sorted
	reg      *prometheus.Registry
	met      *metrics
	inflight chan struct{} // a token per request being handled
	decode   chan struct{} // a token per image being decoded
	draining atomic.Bool
	bodyHeld atomic.Int64 // bytes of request bodies read and not yet let go
	closed   sync.Once
}

// entry is one served model.
type entry struct {
	name   string
	path   string
	model  atomic.Pointer[resgo.Model]
	reload sync.Mutex // one reload at a time
	b      *batcher
	// active counts the inference requests for the model being handled
	// (read, decoded, queued or waiting): the batcher waits for a batch
	// to fill only while there are others that could join it.
	active atomic.Int64
}

// begin counts an inference request as active until the returned func is
// called.
func (e *entry) begin() func() {
	e.active.Add(1)
	return func() { e.active.Add(-1) }
}

// New loads the checkpoints and starts a batcher for each. It fails if a
// checkpoint cannot be loaded or two models would share a name.
func New(cfg Config, specs []ModelSpec) (*Server, error) {
	cfg.setDefaults()
	if len(specs) == 0 {
		return nil, errors.New("serve: no model to serve")
	}
	s := &Server{
		cfg:      cfg,
		models:   map[string]*entry{},
		reg:      prometheus.NewRegistry(),
		inflight: make(chan struct{}, cfg.MaxQueue),
		decode:   make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
	for _, sp := range specs {
		m, err := resgo.Load(sp.Path)
		if err == nil {
			err = servable(m.Info())
		}
		if err != nil {
			return nil, err
		}
		name := sp.Name
		if name == "" {
			name = m.Info().Model
		}
		if !ValidName(name) {
			return nil, fmt.Errorf("serve: %q cannot name a model: use letters, digits, '_', '.' and '-'", name)
		}
		if _, dup := s.models[name]; dup {
			return nil, fmt.Errorf("serve: two models named %q: name them with --checkpoint NAME=FILE", name)
		}
		e := &entry{name: name, path: sp.Path}
		e.model.Store(m)
		s.models[name] = e
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	s.met = newMetrics(s)
	for _, name := range s.names {
		e := s.models[name]
		e.b = newBatcher(e, &s.cfg, s.met)
	}
	return s, nil
}

// servable refuses a model that does not take what the server feeds: a
// 28×28 grey digit, prepared as MNIST's were.
func servable(info resgo.Info) error {
	if info.Height != imageprep.Size || info.Width != imageprep.Size || info.Channels != 1 {
		return fmt.Errorf("serve: %s: the model takes %d×%d×%d images: resgo serve serves models of %d×%d grey digits",
			info.Path, info.Height, info.Width, info.Channels, imageprep.Size, imageprep.Size)
	}
	if !info.Digits {
		return fmt.Errorf("serve: %s: the model was trained on 28×28 grey images that are not MNIST's digits (Fashion-MNIST's, say): resgo serve prepares pictures as MNIST's digits, so it serves only models of them",
			info.Path)
	}
	return nil
}

// Models returns the names of the served models, sorted.
func (s *Server) Models() []string { return append([]string(nil), s.names...) }

// Registry is the Prometheus registry of the server's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// SetDraining marks the server as shutting down: /v2/health/ready answers
// 503 so that load balancers stop sending requests, which are still served,
// each answer with "Connection: close" so that clients close their
// kept-alive connections.
func (s *Server) SetDraining() { s.draining.Store(true) }

// Close stops the batchers; requests still queued fail. Call it after the
// HTTP server has shut down.
func (s *Server) Close() {
	s.closed.Do(func() {
		for _, e := range s.models {
			e.b.close()
		}
	})
}

// ErrNoModel is returned by Reload for a name that is not served.
var ErrNoModel = errors.New("no such model")

// Reload loads the named model's checkpoint again from its file and swaps
// it in for the requests that follow; requests under way finish with the
// old one. A file that cannot be loaded, or holds a different network
// (another architecture or number of classes), is refused and the old model
// keeps serving.
func (s *Server) Reload(name string) (resgo.Info, error) {
	e, ok := s.models[name]
	if !ok {
		return resgo.Info{}, fmt.Errorf("%w %q", ErrNoModel, name)
	}
	e.reload.Lock()
	defer e.reload.Unlock()
	old := e.model.Load().Info()
	m, err := resgo.Load(e.path)
	if err == nil {
		err = servable(m.Info())
	}
	if err == nil {
		if ni := m.Info(); ni.Model != old.Model || ni.Classes != old.Classes {
			err = fmt.Errorf("checkpoint %s holds a %s with %d classes, but model %q is a %s with %d classes",
				e.path, ni.Model, ni.Classes, name, old.Model, old.Classes)
		}
	}
	if err != nil {
		s.met.reloads.WithLabelValues(name, "refused").Inc()
		s.log().Error("reload refused; the old model keeps serving", "model", name, "path", e.path, "err", err.Error())
		return old, err
	}
	e.model.Store(m)
	s.met.reloads.WithLabelValues(name, "ok").Inc()
	ni := m.Info()
	s.log().Info("reloaded", "model", name, "path", e.path, "epoch", ni.Epoch, "test_accuracy", ni.TestAccuracy)
	return ni, nil
}

// ReloadAll reloads every model (see Reload) and returns the errors joined.
func (s *Server) ReloadAll() error {
	var errs []error
	for _, name := range s.names {
		if _, err := s.Reload(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// log is the configured logger, or one that discards.
func (s *Server) log() *slog.Logger {
	if s.cfg.Logger != nil {
		return s.cfg.Logger
	}
	return slog.New(slog.DiscardHandler)
}
