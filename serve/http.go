package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpError is an error answered with its status code, as {"error": msg}.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// prefixError puts prefix before an httpError's message, keeping its
// status.
func prefixError(err error, prefix string) error {
	var he *httpError
	if errors.As(err, &he) {
		return &httpError{code: he.code, msg: prefix + he.msg}
	}
	return err
}

// exchange is one request under way: the response writer, and what the
// request log and metrics record about it.
type exchange struct {
	http.ResponseWriter
	status int
	bytes  int64
	model  string // the served model the request is for, once known
	route  string // the route's name in metrics and logs
}

func (x *exchange) WriteHeader(code int) {
	if x.status == 0 {
		x.status = code
	}
	x.ResponseWriter.WriteHeader(code)
}

func (x *exchange) Write(b []byte) (int, error) {
	if x.status == 0 {
		x.status = http.StatusOK
	}
	n, err := x.ResponseWriter.Write(b)
	x.bytes += int64(n)
	return n, err
}

// handler serves one route; an error it returns is answered as JSON.
type handler func(x *exchange, r *http.Request) error

// Handler returns the server's routes:
//
//	GET  /                                  the page to draw a digit on
//	GET  /v2/health/live, /v2/health/ready  liveness and readiness
//	GET  /v2                                server metadata
//	GET  /v2/models/{name}[/versions/1]     model metadata
//	GET  /v2/models/{name}[/versions/1]/ready
//	POST /v2/models/{name}[/versions/1]/infer
//	POST /v2/repository/index               the models and their state
//	POST /v2/repository/models/{name}/load  reload the checkpoint
//	GET  /v1/models/{name}[/versions/1]     TensorFlow Serving's status
//	GET  /v1/models/{name}[/versions/1]/metadata  and model metadata
//	POST /v1/models/{name}[/versions/1]:predict   TensorFlow Serving's predict
//	POST /v1/models/{name}[/versions/1]:classify  a PNG, JPEG or GIF picture
//	GET  /metrics                           Prometheus metrics
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	add := func(pattern, route string, h handler) {
		mux.Handle(pattern, s.wrap(route, h))
	}
	add("GET /{$}", "page", s.page)
	add("GET /page/{file}", "page", s.pageAsset)
	add("GET /v2/health/live", "live", s.live)
	add("GET /v2/health/ready", "ready", s.ready)
	add("GET /v2", "server_metadata", s.serverMetadata)
	for _, v := range []string{"", "/versions/{version}"} {
		add("GET /v2/models/{name}"+v, "model_metadata", s.modelMetadata)
		add("GET /v2/models/{name}"+v+"/ready", "model_ready", s.modelReady)
		add("POST /v2/models/{name}"+v+"/infer", "infer", s.infer)
	}
	add("POST /v2/repository/index", "repository_index", s.repositoryIndex)
	add("POST /v2/repository/models/{name}/load", "load", s.load)
	for _, v := range []string{"", "/versions/{version}"} {
		add("GET /v1/models/{name}"+v, "tf_status", s.tfStatus)
		add("GET /v1/models/{name}"+v+"/metadata", "tf_metadata", s.tfMetadata)
	}
	add("POST /v1/models/{call}", "v1", s.tfCall)
	add("POST /v1/models/{name}/versions/{call}", "v1", s.tfCall)
	metricsHandler := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
	add("GET /metrics", "metrics", func(x *exchange, r *http.Request) error {
		metricsHandler.ServeHTTP(x, r)
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			s.wrap("none", s.notFound(mux)).ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// notFound answers what the mux does not route (404 or 405) as JSON.
func (s *Server) notFound(mux *http.ServeMux) handler {
	return func(x *exchange, r *http.Request) error {
		h, _ := mux.Handler(r)
		rec := &headerRecorder{h: http.Header{}}
		h.ServeHTTP(rec, r)
		if allow := rec.h.Get("Allow"); allow != "" {
			x.Header().Set("Allow", allow)
		}
		if rec.code == http.StatusMethodNotAllowed {
			return errorf(rec.code, "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, rec.h.Get("Allow"))
		}
		return errorf(http.StatusNotFound, "no route %s %s", r.Method, r.URL.Path)
	}
}

// headerRecorder records the status and headers a handler writes.
type headerRecorder struct {
	h    http.Header
	code int
}

func (r *headerRecorder) Header() http.Header { return r.h }
func (r *headerRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *headerRecorder) Write(b []byte) (int, error) { r.WriteHeader(200); return len(b), nil }

// wrap gives a route its deadline, in-flight token, JSON errors, metrics
// and request log line.
func (s *Server) wrap(route string, h handler) http.Handler {
	limited := route == "infer" || route == "v1" || route == "load"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		x := &exchange{ResponseWriter: w, route: route}
		if s.draining.Load() {
			// Shutting down: the client is to close the connection after
			// this answer rather than send another request on it.
			x.Header().Set("Connection", "close")
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		defer cancel()
		r = r.WithContext(ctx)
		var err error
		if limited {
			select {
			case s.inflight <- struct{}{}:
				defer func() { <-s.inflight }()
			default:
				err = errorf(http.StatusServiceUnavailable, "too many requests in flight (%d): retry later", cap(s.inflight))
			}
		}
		if err == nil {
			body := &budgetBody{ReadCloser: http.MaxBytesReader(x, r.Body, s.cfg.MaxBody), s: s}
			defer body.release()
			r.Body = body
			err = h(x, r)
		}
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) {
				he = &httpError{code: http.StatusInternalServerError, msg: err.Error()}
			}
			if he.code == http.StatusTooManyRequests || he.code == http.StatusServiceUnavailable {
				x.Header().Set("Retry-After", "1")
			}
			writeJSON(x, he.code, map[string]string{"error": he.msg})
		}
		if x.status == 0 {
			x.status = http.StatusOK
		}
		d := time.Since(start)
		code := strconv.Itoa(x.status)
		s.met.requests.WithLabelValues(x.model, x.route, code).Inc()
		s.met.latency.WithLabelValues(x.model, x.route).Observe(d.Seconds())
		if s.cfg.Logger != nil && !s.cfg.Quiet {
			attrs := []any{"method", r.Method, "path", r.URL.Path, "route", x.route, "status", x.status,
				"duration_ms", float64(d.Microseconds()) / 1000, "bytes", x.bytes, "remote", r.RemoteAddr}
			if x.model != "" {
				attrs = append(attrs, "model", x.model)
			}
			if err != nil {
				attrs = append(attrs, "err", err.Error())
			}
			s.cfg.Logger.Info("request", attrs...)
		}
	})
}

// writeJSON answers v as JSON with the status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// errBodyMemory is a body that would take the bodies held over
// Config.BodyMemory.
var errBodyMemory = errors.New("the server holds too much request data: retry later")

// budgetBody counts the bytes read from a request body against
// Config.BodyMemory until the request is answered.
type budgetBody struct {
	io.ReadCloser
	s    *Server
	held int64
}

func (b *budgetBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		if b.s.bodyHeld.Add(int64(n)) > b.s.cfg.BodyMemory {
			b.s.bodyHeld.Add(-int64(n))
			return 0, errBodyMemory
		}
		b.held += int64(n)
	}
	return n, err
}

func (b *budgetBody) release() { b.s.bodyHeld.Add(-b.held) }

// readBody reads the whole body, mapping a body over the limit to 413.
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	return b, s.bodyError(err)
}

// bodyError maps an error reading the body to an HTTP error.
func (s *Server) bodyError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, errBodyMemory) {
		return errorf(http.StatusServiceUnavailable, "%v", err)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, "the request body is larger than %d bytes", s.cfg.MaxBody)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errorf(http.StatusGatewayTimeout, "the request took longer than %s", s.cfg.Timeout)
	}
	return errorf(http.StatusBadRequest, "cannot read the request body: %v", err)
}

// entryFor returns the model the request names, or a 404.
func (s *Server) entryFor(x *exchange, r *http.Request, name string) (*entry, error) {
	e, ok := s.models[name]
	if !ok {
		return nil, errorf(http.StatusNotFound, "no model named %q (serving: %s)", name, strings.Join(s.names, ", "))
	}
	if v := r.PathValue("version"); v != "" && v != "1" {
		return nil, errorf(http.StatusNotFound, "model %q has no version %q (it has version 1)", name, v)
	}
	x.model = name
	return e, nil
}
