// Command mnist-images writes the embedded MNIST out as an image folder
// that "resgo train --data" reads: DIR/train/<digit>/NNNNN.png and
// DIR/test/<digit>/NNNNN.png, one PNG per image. With -coloured it writes
// "coloured MNIST" instead: each digit centred in 32×32, in a random
// foreground colour on a random background colour (RGB), a three-channel
// task whose colours carry no information about the class.
//
//	go run ./scripts/mnist-images -out mnist-png
//	go run ./scripts/mnist-images -coloured -out coloured-mnist
//
// The colours depend only on -seed and the image's index, so a folder can
// be made again exactly.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"resgo/data"
)

func main() {
	out := flag.String("out", "", "write the image folder into `DIR` (required)")
	coloured := flag.Bool("coloured", false, "write coloured MNIST: 32×32 RGB, random foreground and background colours")
	seed := flag.Uint64("seed", 1, "seed of the colours")
	limit := flag.Int("limit", 0, "write only the first `N` images of each set (0: all)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/mnist-images -out DIR [-coloured] [-seed S] [-limit N]")
		os.Exit(2)
	}
	tr, te, err := data.LoadMNIST()
	if err != nil {
		fail(err)
	}
	for _, set := range []struct {
		name string
		d    *data.Dataset
		salt uint64
	}{{"train", tr, 0}, {"test", te, 1 << 32}} {
		n := set.d.N
		if *limit > 0 {
			n = min(n, *limit)
		}
		if err := write(filepath.Join(*out, set.name), set.d, n, *coloured, *seed, set.salt); err != nil {
			fail(err)
		}
		fmt.Printf("wrote %d images to %s\n", n, filepath.Join(*out, set.name))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mnist-images:", err)
	os.Exit(1)
}

// write writes the first n images of d under dir/<class>/, in parallel.
func write(dir string, d *data.Dataset, n int, coloured bool, seed, salt uint64) error {
	for _, c := range d.Classes {
		if err := os.MkdirAll(filepath.Join(dir, c), 0o755); err != nil {
			return err
		}
	}
	var next atomic.Int64
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var buf bytes.Buffer
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				var img image.Image = digit(d, i)
				if coloured {
					img = colour(d, i, seed, salt)
				}
				buf.Reset()
				err := png.Encode(&buf, img)
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, d.Classes[d.Labels[i]], fmt.Sprintf("%05d.png", i)), buf.Bytes(), 0o644)
				}
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// digit returns image i of d as a grey picture.
func digit(d *data.Dataset, i int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, d.W, d.H))
	copy(img.Pix, d.Image(i))
	return img
}

// side is the size of a coloured MNIST picture: the 28×28 digit with two
// pixels of background around it.
const side = 32

// colour returns image i of d centred in side×side, its ink in one random
// colour over a background of another, the two at least minDistance
// apart so that the digit stays visible.
func colour(d *data.Dataset, i int, seed, salt uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, salt+uint64(i)))
	const minDistance = 120
	var fg, bg [3]float64
	for {
		for c := range 3 {
			fg[c], bg[c] = float64(rng.IntN(256)), float64(rng.IntN(256))
		}
		d2 := 0.0
		for c := range 3 {
			d2 += (fg[c] - bg[c]) * (fg[c] - bg[c])
		}
		if d2 >= minDistance*minDistance {
			break
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	off := (side - d.H) / 2
	px := d.Image(i)
	for y := range side {
		for x := range side {
			a := 0.0
			if sy, sx := y-off, x-off; sy >= 0 && sy < d.H && sx >= 0 && sx < d.W {
				a = float64(px[sy*d.W+sx]) / 255
			}
			var c [3]uint8
			for k := range 3 {
				c[k] = uint8(bg[k]*(1-a) + fg[k]*a + 0.5)
			}
			img.SetRGBA(x, y, color.RGBA{c[0], c[1], c[2], 255})
		}
	}
	return img
}
