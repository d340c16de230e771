package compute

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

type ctRange struct{ worker, lo, hi int }

// ctRunFor calls p.For and records every call it makes.
func ctRunFor(p *Pool, n, grain int) (calls []ctRange, hits []int) {
	var mu sync.Mutex
	hits = make([]int, max(n, 0))
	p.For(n, grain, func(w, lo, hi int) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, ctRange{w, lo, hi})
		for i := lo; i < hi; i++ {
			hits[i]++
		}
	})
	sort.Slice(calls, func(i, j int) bool { return calls[i].worker < calls[j].worker })
	return calls, hits
}

// TestPoolForCoversOnce checks that For covers [0, n) exactly once, with
// contiguous ranges in worker order, worker indices dense from 0 and each
// used once, at most Workers() ranges, no more ranges than ceil(n/grain),
// near-equal sizes, and every worker used when there is enough work.
func TestPoolForCoversOnce(t *testing.T) {
	for _, workers := range []int{1, 2, 3, 5} {
		p := NewPool(workers)
		if p.Workers() != workers {
			t.Fatalf("NewPool(%d).Workers() = %d", workers, p.Workers())
		}
		for _, n := range []int{-1, 0, 1, 2, 3, 4, 5, 7, 16, 17, 100, 1001} {
			for _, grain := range []int{-3, 0, 1, 2, 3, 8, 64, 5000} {
				name := fmt.Sprintf("workers=%d n=%d grain=%d", workers, n, grain)
				calls, hits := ctRunFor(p, n, grain)
				if n <= 0 {
					if len(calls) != 0 {
						t.Fatalf("%s: %d calls for an empty range", name, len(calls))
					}
					continue
				}
				for i, h := range hits {
					if h != 1 {
						t.Fatalf("%s: index %d covered %d times", name, i, h)
					}
				}
				g := max(grain, 1)
				if len(calls) > workers || len(calls) > (n+g-1)/g {
					t.Fatalf("%s: %d ranges", name, len(calls))
				}
				if n >= workers*g && len(calls) != workers {
					t.Fatalf("%s: only %d of %d workers used", name, len(calls), workers)
				}
				next := 0
				minSz, maxSz := n, 0
				for i, c := range calls {
					if c.worker != i {
						t.Fatalf("%s: worker indices %v, want 0..%d each once", name, calls, len(calls)-1)
					}
					if c.lo != next || c.hi <= c.lo {
						t.Fatalf("%s: ranges %v not contiguous in worker order", name, calls)
					}
					next = c.hi
					minSz, maxSz = min(minSz, c.hi-c.lo), max(maxSz, c.hi-c.lo)
				}
				if next != n {
					t.Fatalf("%s: ranges end at %d", name, next)
				}
				if maxSz-minSz > 1 {
					t.Fatalf("%s: uneven ranges %v", name, calls)
				}
			}
		}
		p.Close()
	}
	if p := NewPool(0); p.Workers() != runtime.GOMAXPROCS(0) {
		t.Errorf("NewPool(0).Workers() = %d, want GOMAXPROCS %d", p.Workers(), runtime.GOMAXPROCS(0))
	} else {
		p.Close()
	}
}

// TestPoolForParallel checks that the workers of one For really run at the
// same time (each waits for all the others), on separate goroutines.
func TestPoolForParallel(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	var wg sync.WaitGroup
	wg.Add(3)
	done := make(chan struct{})
	go func() {
		p.For(3, 1, func(w, lo, hi int) {
			wg.Done()
			wg.Wait() // deadlocks unless all three ranges run concurrently
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the three ranges of one For did not run concurrently")
	}
}

// ctCatch runs f and returns what it panicked with.
func ctCatch(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}

func TestPoolForPanic(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	for _, bad := range [][]int{{0}, {1}, {2}, {1, 2}, {0, 1, 2}} {
		name := fmt.Sprintf("panicking workers %v", bad)
		var mu sync.Mutex
		ran := map[int]bool{}
		r := ctCatch(func() {
			p.For(30, 1, func(w, lo, hi int) {
				mu.Lock()
				ran[w] = true
				mu.Unlock()
				for _, b := range bad {
					if w == b {
						panic(fmt.Sprintf("boom in worker %d", w))
					}
				}
			})
		})
		s, ok := r.(string)
		if !ok || !strings.HasPrefix(s, "boom in worker ") {
			t.Fatalf("%s: For panicked with %v, want a worker's panic", name, r)
		}
		if len(ran) != 3 {
			t.Fatalf("%s: only workers %v ran", name, ran)
		}
		// The pool still works afterwards, with no stale results left over.
		calls, hits := ctRunFor(p, 30, 1)
		if len(calls) != 3 {
			t.Fatalf("%s: after the panic, For made %d calls", name, len(calls))
		}
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("%s: after the panic, index %d covered %d times", name, i, h)
			}
		}
	}
	// A panic in a single-range For (run inline) propagates too.
	if r := ctCatch(func() { p.For(1, 1, func(int, int, int) { panic("inline") }) }); r != "inline" {
		t.Fatalf("inline For panicked with %v", r)
	}
	// A runtime error in a worker keeps its type.
	r := ctCatch(func() {
		p.For(3, 1, func(w, lo, hi int) {
			if w == 2 {
				var s []int
				_ = s[w]
			}
		})
	})
	if _, ok := r.(runtime.Error); !ok {
		t.Fatalf("index error in a worker re-raised as %T %v, want a runtime.Error", r, r)
	}
}

func TestPoolScratchAndPartials(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	a := p.Scratch(1, 10)
	if len(a) != 10 {
		t.Fatalf("Scratch len %d", len(a))
	}
	a[0] = 7
	if b := p.Scratch(1, 5); len(b) != 5 || b[0] != 7 {
		t.Fatalf("smaller Scratch should reuse the buffer: %v", b)
	}
	if c := p.Scratch(2, 5); &c[0] == &a[0] {
		t.Fatalf("workers share scratch space")
	}
	s := p.Partials(4)
	if len(s) != 12 {
		t.Fatalf("Partials(4) len %d, want 12", len(s))
	}
	for i := range s {
		s[i] = 1
	}
	for i, v := range p.Partials(4) {
		if v != 0 {
			t.Fatalf("Partials not zeroed at %d", i)
		}
	}
}

// ctWithin fails the test if f does not return within d (a loop on a
// closed or broken pool would spin forever).
func ctWithin(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		f()
	}()
	select {
	case r := <-done:
		if r != nil {
			t.Fatalf("%s panicked: %v", what, r)
		}
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// TestSetThreadsKeepsHeldPool checks that SetThreads leaves the pool it
// replaces working for whoever still holds it.
func TestSetThreadsKeepsHeldPool(t *testing.T) {
	SetThreads(3)
	held := Default()
	SetThreads(2)
	if Default() == held || Default().Workers() != 2 {
		t.Fatalf("SetThreads(2) did not replace the default pool")
	}
	ctWithin(t, 20*time.Second, "a loop on the replaced pool", func() {
		_, hits := ctRunFor(held, 300, 1)
		for i, h := range hits {
			if h != 1 {
				panic(fmt.Sprintf("index %d covered %d times", i, h))
			}
		}
	})
	SetThreads(0)
}

// TestClosedPoolPanics checks that a loop on a closed pool panics with a
// message instead of waiting forever for workers that are gone, and that
// closing twice is harmless.
func TestClosedPoolPanics(t *testing.T) {
	p := NewPool(3)
	p.Close()
	p.Close()
	for _, n := range []int{1, 30} {
		r := ctCatch(func() { p.For(n, 1, func(int, int, int) {}) })
		if s, ok := r.(string); !ok || !strings.Contains(s, "closed Pool") {
			t.Fatalf("For(%d) on a closed pool: %v, want a panic naming the closed pool", n, r)
		}
	}
}

// TestDroppedPoolStops checks that the workers of a pool nobody holds
// any more are stopped once the garbage collector finds it.
func TestDroppedPoolStops(t *testing.T) {
	func() {
		p := NewPool(5)
		p.For(5, 1, func(int, int, int) {}) // every worker has started
		if n := liveWorkers.Load(); n < 4 {
			t.Fatalf("%d workers running, want at least NewPool(5)'s 4", n)
		}
	}()
	// Other tests' pools are dropped too, so all workers should go except
	// the default pool's.
	deadline := time.Now().Add(10 * time.Second)
	for liveWorkers.Load() > int64(Default().Workers()-1) {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still running after their pools were dropped", liveWorkers.Load())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
