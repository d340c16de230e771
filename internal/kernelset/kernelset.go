// Package kernelset carries the choice of kernel set between the public
// setting (compute.SetKernels) and the kernels that implement it
// (internal/kernels registers itself here at start). It exists because
// the kernels import compute for its Pool, so compute cannot import them.
package kernelset

import (
	"fmt"
	"strings"
	"sync"
)

var (
	mu        sync.Mutex
	available = []string{"generic"}
	current   = "generic"
	apply     func(name string)
)

// Register records the sets the CPU supports (fastest first, "generic"
// last) and the function that switches to one, then switches to first.
func Register(sets []string, use func(name string), first string) {
	mu.Lock()
	defer mu.Unlock()
	available = append([]string(nil), sets...)
	apply = use
	use(first)
	current = first
}

// Available returns the sets the CPU supports, fastest first.
func Available() []string {
	mu.Lock()
	defer mu.Unlock()
	return append([]string(nil), available...)
}

// Current returns the set in use.
func Current() string {
	mu.Lock()
	defer mu.Unlock()
	return current
}

// Use switches to the named set; "" and "auto" mean the fastest.
func Use(name string) error {
	mu.Lock()
	defer mu.Unlock()
	if name == "" || name == "auto" {
		name = available[0]
	}
	for _, s := range available {
		if s == name {
			if apply != nil {
				apply(name)
			}
			current = name
			return nil
		}
	}
	return fmt.Errorf("kernel set %q is not available on this CPU (available: auto, %s)", name, strings.Join(available, ", "))
}
