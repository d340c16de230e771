package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"resgo/internal/testutil"
)

var mnistOnce struct {
	sync.Once
	train, test *Dataset
	err         error
}

// embedded returns the embedded MNIST, decoded once for all tests.
func embedded(t *testing.T) (train, test *Dataset) {
	t.Helper()
	mnistOnce.Do(func() { mnistOnce.train, mnistOnce.test, mnistOnce.err = LoadMNIST() })
	if mnistOnce.err != nil {
		t.Fatal(mnistOnce.err)
	}
	return mnistOnce.train, mnistOnce.test
}

func TestLoadMNIST(t *testing.T) {
	train, test := embedded(t)
	for _, tc := range []struct {
		name       string
		d          *Dataset
		n          int
		firstLabel int32
	}{
		{"train", train, 60000, 5},
		{"test", test, 10000, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			if d.N != tc.n || d.H != 28 || d.W != 28 {
				t.Fatalf("N,H,W = %d,%d,%d, want %d,28,28", d.N, d.H, d.W, tc.n)
			}
			if len(d.Images) != tc.n*28*28 || len(d.Labels) != tc.n {
				t.Fatalf("%d pixels and %d labels", len(d.Images), len(d.Labels))
			}
			if d.Labels[0] != tc.firstLabel {
				t.Errorf("first label %d, want %d", d.Labels[0], tc.firstLabel)
			}
			var count [NumClasses]int
			for _, l := range d.Labels {
				count[l]++ // NewDataset guarantees l < NumClasses
			}
			for c, k := range count {
				if k < tc.n/20 { // every digit is 9–11% of MNIST
					t.Errorf("digit %d: only %d examples", c, k)
				}
			}
			// Digits are white strokes on black: corners empty, some pixels 255.
			img := d.Image(0)
			if img[0] != 0 || img[27] != 0 || img[28*28-1] != 0 || bytes.IndexByte(img, 255) < 0 {
				t.Errorf("image 0 does not look like an MNIST digit")
			}
		})
	}
}

func TestLimit(t *testing.T) {
	train, _ := embedded(t)
	d, err := train.Limit(100)
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 100 || d.H != 28 || len(d.Images) != 100*28*28 || len(d.Labels) != 100 ||
		d.Labels[0] != 5 || !bytes.Equal(d.Image(99), train.Image(99)) {
		t.Errorf("Limit(100) = N %d, %d pixels, %d labels", d.N, len(d.Images), len(d.Labels))
	}
	if d, err := train.Limit(60000); err != nil || d.N != 60000 {
		t.Errorf("Limit(60000) = %v, %v", d, err)
	}
	for _, n := range []int{0, -1, 60001} {
		d, err := train.Limit(n)
		if err == nil || d != nil {
			t.Errorf("Limit(%d): no error", n)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "limit "+strconv.Itoa(n)) || !strings.Contains(msg, "60000 images") {
			t.Errorf("Limit(%d): error %q names neither the limit nor the size", n, msg)
		}
	}
}

// writeMNIST writes the embedded MNIST files to dir: the training files as
// they are (gzip), the test files decompressed under names without ".gz".
func writeMNIST(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{TrainImagesFile, TrainLabelsFile} {
		b, err := mnistFS.ReadFile("mnist/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{TestImagesFile, TestLabelsFile} {
		f, err := mnistFS.Open("mnist/" + name)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, strings.TrimSuffix(name, ".gz")), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadDir(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes MNIST twice")
	}
	dir := t.TempDir()
	writeMNIST(t, dir)
	train, test, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantTrain, wantTest := embedded(t)
	for _, c := range []struct{ got, want *Dataset }{{train, wantTrain}, {test, wantTest}} {
		if c.got.N != c.want.N || c.got.H != c.want.H || c.got.W != c.want.W ||
			!bytes.Equal(c.got.Images, c.want.Images) || !slices.Equal(c.got.Labels, c.want.Labels) {
			t.Errorf("LoadDir gives a %d-image set unlike the embedded one", c.got.N)
		}
	}
}

func TestLoadDirErrors(t *testing.T) {
	// Small, valid stand-ins for the four files.
	files := map[string][]byte{
		TrainImagesFile: testutil.Gzip(okImages),
		TrainLabelsFile: testutil.Gzip(okLabels),
		TestImagesFile:  okImages,
		TestLabelsFile:  okLabels,
	}
	write := func(t *testing.T, skip string, replace map[string][]byte) string {
		dir := t.TempDir()
		for name, b := range files {
			if name == skip {
				continue
			}
			if r, ok := replace[name]; ok {
				b = r
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	t.Run("valid", func(t *testing.T) {
		train, test, err := LoadDir(write(t, "", nil))
		if err != nil || train.N != 2 || test.N != 2 || test.H != 3 || test.W != 4 {
			t.Fatalf("LoadDir = %v, %v, %v", train, test, err)
		}
	})
	for _, name := range []string{TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile} {
		t.Run("missing "+name, func(t *testing.T) {
			dir := write(t, name, nil)
			_, _, err := LoadDir(dir)
			path := filepath.Join(dir, name)
			checkErr(t, err, path, "missing file (nor is there "+strings.TrimSuffix(name, ".gz")+")")
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %q does not match fs.ErrNotExist", err)
			}
		})
	}
	t.Run("broken labels", func(t *testing.T) {
		dir := write(t, "", map[string][]byte{TestLabelsFile: testutil.IDX(MagicLabels, []uint32{2}, []byte{1, 10})})
		_, _, err := LoadDir(dir)
		checkErr(t, err, filepath.Join(dir, TestLabelsFile), "label 10 at index 1 is above 9")
	})
	t.Run("image sizes differ", func(t *testing.T) {
		dir := write(t, "", map[string][]byte{TestImagesFile: testutil.IDX(MagicImages, []uint32{2, 4, 3}, seq(24))})
		_, _, err := LoadDir(dir)
		checkErr(t, err, filepath.Join(dir, TestImagesFile), "images are 4×3, but the training images are 3×4")
	})
	t.Run("raw fallback", func(t *testing.T) {
		dir := write(t, TrainImagesFile, nil)
		if err := os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte"), okImages, 0o644); err != nil {
			t.Fatal(err)
		}
		if train, _, err := LoadDir(dir); err != nil || train.N != 2 {
			t.Fatalf("LoadDir = %v, %v", train, err)
		}
	})
}
