package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLoopbackOnly(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080/x", "http://localhost:1/", "http://[::1]:80/"} {
		if err := loopbackOnly(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://192.0.2.1:8080/", "http://10.0.0.1/", "https://127.0.0.1/", "ftp://127.0.0.1/"} {
		if err := loopbackOnly(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
}

// TestLoad runs loadgen against a server that answers every third request
// 429, and checks the counts it reports add up.
func TestLoad(t *testing.T) {
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 == 0 {
			w.WriteHeader(429)
		}
		w.Write([]byte("{}"))
	}))
	defer ts.Close()
	body := filepath.Join(t.TempDir(), "b.json")
	os.WriteFile(body, []byte("{}"), 0o644)
	var out bytes.Buffer
	err := run([]string{"--url", ts.URL, "--body", body, "--clients", "4", "--duration", "10s", "--requests", "90", "--pid", "0"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "90 answered (200:60 429:30)") || !strings.Contains(out.String(), "0 errors") {
		t.Errorf("report: %s", out.String())
	}
	rep, err := load(ts.URL, []byte("{}"), "application/json", 2, 200*time.Millisecond, 1_000_000, time.Second, os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests == 0 || rep.OK+rep.Status["429"] != rep.Requests || rep.PeakRSSMiB <= 0 || rep.Seconds > 5 ||
		rep.ServerCPU <= 0 || rep.LoadgenCPU <= 0 { // the server is this process
		t.Errorf("report: %+v", rep)
	}
	for _, args := range [][]string{{"--clients", "0"}, {"--duration", "1h"}, {"--sigterm-after", "1s"}, {"--url", "http://192.0.2.1/"}} {
		if err := run(args, &out); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
