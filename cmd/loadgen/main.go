// Command loadgen drives a "resgo serve" on this machine with concurrent
// clients and reports throughput, latency percentiles, answers by status,
// errors and the server's peak resident memory. It only talks to loopback
// addresses, and stops after --duration or --requests, whichever comes
// first.
//
//	loadgen --url http://127.0.0.1:8080/v1/models/resnet:classify \
//	        --body testdata/digits/seven.png --clients 64 --duration 30s --pid $(pidof resgo)
//
// With --sigterm-after D it sends SIGTERM to --pid after D and counts what
// happens to the requests under way: each is answered, refused before it
// was sent (the server no longer accepts connections), sent on a kept-alive
// connection that the server had just closed as idle (so never read), or
// lost (sent, and the connection closed without an answer). A graceful
// shutdown loses none.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Bounds on what loadgen may be asked to do.
const (
	maxClients  = 4096
	maxDuration = 5 * time.Minute
)

// Report is what a run measured; loadgen prints it as JSON with --json.
type Report struct {
	Clients    int            `json:"clients"`
	Seconds    float64        `json:"seconds"`
	Requests   int            `json:"requests"`   // sent and answered with any status
	OK         int            `json:"ok"`         // answered 200
	PerSecond  float64        `json:"per_second"` // answered 200 per second
	P50ms      float64        `json:"p50_ms"`     // latency of the 200s
	P99ms      float64        `json:"p99_ms"`
	MaxMs      float64        `json:"max_ms"`
	RefusedP99 float64        `json:"refused_p99_ms"` // latency of the 429s and 503s
	Status     map[string]int `json:"status"`         // answers by status code
	Errors     int            `json:"errors"`         // no answer (refused or lost)
	NotSent    int            `json:"not_sent"`       // no connection: the server was not accepting
	Lost       int            `json:"lost"`           // sent, no answer
	ClosedIdle int            `json:"closed_idle"`    // sent on a kept-alive connection the server had closed, unread
	FirstError string         `json:"first_error,omitempty"`
	PeakRSSMiB float64        `json:"peak_rss_mib,omitempty"` // the server's, sampled every 50ms
	// ServerCPU and LoadgenCPU are the CPU time the server and loadgen
	// used over the run, in cores (CPU seconds per second).
	ServerCPU   float64 `json:"server_cpu_cores,omitempty"`
	LoadgenCPU  float64 `json:"loadgen_cpu_cores"`
	SigtermSent bool    `json:"sigterm_sent,omitempty"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	target := fs.String("url", "http://127.0.0.1:8080/v1/models/resnet:classify", "the `URL` to POST to (loopback only)")
	bodyFile := fs.String("body", "testdata/digits/seven.png", "the request body's `FILE`")
	ctype := fs.String("content-type", "", "the body's Content-Type (default: from the file's extension)")
	clients := fs.Int("clients", 64, "concurrent clients, each sending its next request when answered")
	duration := fs.Duration("duration", 30*time.Second, "how long to send (at most 5m)")
	maxReq := fs.Int("requests", 10_000_000, "the most requests to send in all")
	timeout := fs.Duration("timeout", 30*time.Second, "a request's client-side timeout")
	pid := fs.Int("pid", 0, "the server's process id: its peak RSS is reported")
	sigterm := fs.Duration("sigterm-after", 0, "send SIGTERM to --pid after this long (0: never)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *clients < 1 || *clients > maxClients:
		return fmt.Errorf("--clients must be 1 to %d", maxClients)
	case *duration <= 0 || *duration > maxDuration:
		return fmt.Errorf("--duration must be more than 0 and at most %v", maxDuration)
	case *maxReq < 1:
		return errors.New("--requests must be at least 1")
	case *sigterm > 0 && *pid == 0:
		return errors.New("--sigterm-after needs --pid")
	}
	if err := loopbackOnly(*target); err != nil {
		return err
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		return err
	}
	if *ctype == "" {
		*ctype = map[bool]string{true: "application/json", false: "image/png"}[strings.HasSuffix(*bodyFile, ".json")]
	}
	rep, err := load(*target, body, *ctype, *clients, *duration, *maxReq, *timeout, *pid, *sigterm)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	codes := make([]string, 0, len(rep.Status))
	for c, n := range rep.Status {
		codes = append(codes, fmt.Sprintf("%s:%d", c, n))
	}
	slices.Sort(codes)
	fmt.Fprintf(stdout, "%d clients, %.1fs: %d answered (%s), %.1f ok/s, p50 %.1fms, p99 %.1fms, max %.1fms; refusals p99 %.1fms; %d errors (%d not sent, %d on closed idle connections, %d lost)",
		rep.Clients, rep.Seconds, rep.Requests, strings.Join(codes, " "), rep.PerSecond, rep.P50ms, rep.P99ms, rep.MaxMs, rep.RefusedP99, rep.Errors, rep.NotSent, rep.ClosedIdle, rep.Lost)
	if rep.PeakRSSMiB > 0 {
		fmt.Fprintf(stdout, "; server peak RSS %.0f MiB", rep.PeakRSSMiB)
	}
	if rep.ServerCPU > 0 {
		fmt.Fprintf(stdout, "; CPU: server %.2f cores, loadgen %.2f", rep.ServerCPU, rep.LoadgenCPU)
	}
	fmt.Fprintln(stdout)
	if rep.FirstError != "" {
		fmt.Fprintln(stdout, "first error:", rep.FirstError)
	}
	return nil
}

// loopbackOnly refuses a URL whose host is not a loopback address.
func loopbackOnly(target string) error {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("--url %q: want http://HOST:PORT/...", target)
	}
	ips, err := net.LookupIP(u.Hostname())
	if err != nil {
		return fmt.Errorf("--url: %v", err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("--url %q: %s is not a loopback address: loadgen only loads this machine", target, ip)
		}
	}
	return nil
}

// sample is one answered request.
type sample struct {
	code int
	d    time.Duration
}

func load(target string, body []byte, ctype string, clients int, duration time.Duration, maxReq int,
	timeout time.Duration, pid int, sigterm time.Duration) (*Report, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: timeout}
	defer tr.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var (
		budget   atomic.Int64
		mu       sync.Mutex
		samples  []sample
		rep      = &Report{Clients: clients, Status: map[string]int{}}
		peak     atomic.Int64
		stopping atomic.Bool
	)
	budget.Store(int64(maxReq))
	if pid > 0 {
		go func() {
			for ctx.Err() == nil {
				if kb := rssKiB(pid); kb > peak.Load() {
					peak.Store(kb)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	if sigterm > 0 {
		go func() {
			select {
			case <-time.After(sigterm):
				stopping.Store(true)
				if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.SIGTERM) == nil {
					mu.Lock()
					rep.SigtermSent = true
					mu.Unlock()
				}
			case <-ctx.Done():
			}
		}()
	}
	start := time.Now()
	srvCPU0, ownCPU0 := cpuSeconds(pid), cpuSeconds(os.Getpid())
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var local []sample
			defer func() {
				mu.Lock()
				samples = append(samples, local...)
				mu.Unlock()
			}()
			for ctx.Err() == nil && budget.Add(-1) >= 0 {
				var wrote atomic.Bool
				trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }}
				req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", target, bytes.NewReader(body))
				if err != nil {
					panic(err)
				}
				req.Header.Set("Content-Type", ctype)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				d := time.Since(t0)
				if err != nil {
					mu.Lock()
					rep.Errors++
					switch {
					case strings.Contains(err.Error(), "server closed idle connection"):
						// The server closed a kept-alive connection that had no
						// request under way (as it does on shutdown) while the
						// next request was being sent: the server never read it.
						rep.ClosedIdle++
					case wrote.Load():
						rep.Lost++
					default:
						rep.NotSent++
					}
					if rep.FirstError == "" {
						rep.FirstError = err.Error()
					}
					mu.Unlock()
					if stopping.Load() {
						return // the server has stopped accepting: this client is done
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				local = append(local, sample{resp.StatusCode, d})
			}
		})
	}
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	if pid > 0 {
		rep.ServerCPU = (cpuSeconds(pid) - srvCPU0) / rep.Seconds
	}
	rep.LoadgenCPU = (cpuSeconds(os.Getpid()) - ownCPU0) / rep.Seconds
	var ok, refused []time.Duration
	for _, s := range samples {
		rep.Status[strconv.Itoa(s.code)]++
		switch s.code {
		case 200:
			ok = append(ok, s.d)
		case 429, 503:
			refused = append(refused, s.d)
		}
	}
	rep.Requests = len(samples)
	rep.OK = len(ok)
	rep.PerSecond = float64(len(ok)) / rep.Seconds
	rep.P50ms, rep.P99ms, rep.MaxMs = pct(ok, 50), pct(ok, 99), pct(ok, 100)
	rep.RefusedP99 = pct(refused, 99)
	if kb := peak.Load(); kb > 0 {
		rep.PeakRSSMiB = float64(kb) / 1024
	}
	if pid > 0 {
		if hwm := statusKiB(pid, "VmHWM:"); float64(hwm)/1024 > rep.PeakRSSMiB {
			rep.PeakRSSMiB = float64(hwm) / 1024
		}
	}
	return rep, nil
}

// pct is the p-th percentile of ds in milliseconds (0 if empty).
func pct(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := min(len(ds)-1, int(p/100*float64(len(ds))))
	return float64(ds[i].Microseconds()) / 1000
}

// rssKiB is the process's resident memory, from /proc (0 if unknown).
func rssKiB(pid int) int64 { return statusKiB(pid, "VmRSS:") }

func statusKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// cpuSeconds is the CPU time (user and system) process pid has used, from
// /proc/PID/stat (0 if unknown: not Linux). Linux counts it in ticks of 1/100 s
// (USER_HZ) on every architecture Go supports.
func cpuSeconds(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}
