package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"resgo/compute"
)

// TestSetKernels switches to every kernel set this CPU supports through
// the public compute.SetKernels and checks that the dispatching entry
// points follow (a GEMM agrees with the portable one; the row kernels are
// on only for avx512), that unknown names are refused with the list of
// sets, and that "auto" returns to the fastest.
func TestSetKernels(t *testing.T) {
	start := compute.Kernels()
	defer compute.SetKernels(start)
	sets := compute.KernelSets()
	if sets[len(sets)-1] != "generic" {
		t.Fatalf("KernelSets() = %v, want generic last", sets)
	}
	r := rand.New(rand.NewPCG(1, 2))
	const m, n, k = 37, 45, 29
	a, b := make([]float32, m*k), make([]float32, k*n)
	for i := range a {
		a[i] = r.Float32()*2 - 1
	}
	for i := range b {
		b[i] = r.Float32()*2 - 1
	}
	want := make([]float32, m*n)
	SgemmGeneric(m, n, k, a, k, b, n, want, n, false)
	for _, set := range sets {
		if err := compute.SetKernels(set); err != nil {
			t.Fatalf("SetKernels(%q): %v", set, err)
		}
		if got := compute.Kernels(); got != set {
			t.Fatalf("after SetKernels(%q), Kernels() = %q", set, got)
		}
		if rowsFast != (set == "avx512") {
			t.Errorf("%s: rowsFast = %v", set, rowsFast)
		}
		got := make([]float32, m*n)
		Sgemm(m, n, k, a, k, b, n, got, n, false)
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-4 {
				t.Fatalf("%s: Sgemm[%d] = %v, generic %v", set, i, got[i], want[i])
			}
		}
	}
	err := compute.SetKernels("bogus")
	if err == nil || !strings.Contains(err.Error(), `"bogus"`) || !strings.Contains(err.Error(), "generic") {
		t.Fatalf("SetKernels(bogus) = %v, want an error naming it and the sets", err)
	}
	if !slices.Contains(sets, "avx512") {
		if err := compute.SetKernels("avx512"); err == nil {
			t.Fatalf("SetKernels(avx512) accepted on a CPU without AVX-512")
		}
	}
	if err := compute.SetKernels("auto"); err != nil || compute.Kernels() != sets[0] {
		t.Fatalf("SetKernels(auto) = %v, Kernels() = %q, want %q", err, compute.Kernels(), sets[0])
	}
}
