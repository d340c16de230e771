package main

import (
	"bytes"
	"testing"

	"resgo/data"
)

// The grey folder reads back as the MNIST images it came from; the
// coloured one as 32×32×3 pictures of the same digits.
func TestWriteReadsBack(t *testing.T) {
	tr, _, err := data.LoadMNIST()
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	grey, col := t.TempDir(), t.TempDir()
	if err := write(grey+"/train", tr, n, false, 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := write(col+"/train", tr, n, true, 1, 0); err != nil {
		t.Fatal(err)
	}
	g, _, src, err := data.Open(grey, data.Options{ValSplit: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	// The folder holds the images class by class, in index order; the
	// split held one of each class out.
	seen := 0
	for k := range g.N {
		for i := range n {
			if tr.Labels[i] == g.Labels[k] && bytes.Equal(tr.Image(i), g.Image(k)) {
				seen++
				break
			}
		}
	}
	if g.H != 28 || g.C != 1 || seen != g.N || src.Split.Train+src.Split.Test != n {
		t.Errorf("grey folder: %d×%d×%d, %d of %d images found in MNIST", g.H, g.W, g.C, seen, g.N)
	}
	c, _, _, err := data.Open(col, data.Options{ValSplit: 0.01})
	if err != nil || c.H != 32 || c.W != 32 || c.C != 3 || c.N != g.N {
		t.Fatalf("coloured folder: %v", err)
	}
	if a, b := colour(tr, 3, 1, 0), colour(tr, 3, 1, 0); !bytes.Equal(a.Pix, b.Pix) {
		t.Error("the colours are not a function of the seed and index")
	}
}
