package data

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"resgo/internal/testutil"
)

// wantErr fails t unless err matches ErrFormat and its message holds every
// part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one with %q", parts)
	}
	if !errors.Is(err, ErrFormat) {
		t.Errorf("error %q does not match ErrFormat", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

var cifar10Names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"

// cifar10Dir writes a CIFAR-10 binary folder of small batches.
func cifar10Dir(t *testing.T) string {
	dir := t.TempDir()
	for i, f := range CIFAR10TrainFiles {
		testutil.WriteFile(t, filepath.Join(dir, f), testutil.CIFAR(false, []byte{byte(i), 9, 3}))
	}
	testutil.WriteFile(t, filepath.Join(dir, CIFAR10TestFile), testutil.CIFAR(false, []byte{1, 2}))
	testutil.WriteFile(t, filepath.Join(dir, CIFAR10MetaFile), []byte(cifar10Names))
	return dir
}

// checkCIFARPixels checks that d's image k is record i of its batch,
// converted from planes to HWC.
func checkCIFARPixels(t *testing.T, d *Dataset, k, i int) {
	t.Helper()
	img := d.Image(k)
	for _, p := range []int{0, 1, 33, 1023} {
		for c := range 3 {
			if got, want := img[3*p+c], testutil.CIFARPixel(i, c*1024+p); got != want {
				t.Fatalf("image %d pixel %d channel %d = %d, want %d", k, p, c, got, want)
			}
		}
	}
}

func TestOpenCIFAR10(t *testing.T) {
	dir := cifar10Dir(t)
	tr, te, src, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Format != FormatCIFAR10 || tr.N != 15 || te.N != 2 || tr.H != 32 || tr.W != 32 || tr.C != 3 {
		t.Fatalf("format %s, %d and %d images of %d×%d×%d", src.Format, tr.N, te.N, tr.H, tr.W, tr.C)
	}
	if !slices.Equal(tr.Labels[:6], []int32{0, 9, 3, 1, 9, 3}) || !slices.Equal(te.Labels, []int32{1, 2}) {
		t.Errorf("labels %v, %v", tr.Labels, te.Labels)
	}
	if tr.Classes[3] != "cat" || len(tr.Classes) != 10 {
		t.Errorf("classes %q", tr.Classes)
	}
	checkCIFARPixels(t, tr, 4, 1) // the second record of data_batch_2.bin
	checkCIFARPixels(t, te, 1, 1)

	// The archive, as published, given itself or in a folder.
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, f := range append(slices.Clone(CIFAR10TrainFiles), CIFAR10TestFile, CIFAR10MetaFile, "readme.html") {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/" + f, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	arch := filepath.Join(t.TempDir(), CIFAR10Archive)
	testutil.WriteFile(t, arch, testutil.Gzip(tb.Bytes()))
	for _, p := range []string{arch, filepath.Dir(arch)} {
		tr2, te2, src2, err := Open(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if src2.Format != FormatCIFAR10 || !bytes.Equal(tr2.Images, tr.Images) || !slices.Equal(te2.Labels, te.Labels) || tr2.Classes[9] != "truck" {
			t.Errorf("%s: the archive reads differently from the folder", p)
		}
	}
	truncated := filepath.Join(t.TempDir(), CIFAR10Archive)
	gz := testutil.Gzip(tb.Bytes())
	testutil.WriteFile(t, truncated, gz[:len(gz)/2])
	_, _, _, err = Open(truncated, Options{})
	wantErr(t, err, truncated, "truncated gzip stream")
}

func TestOpenCIFAR100(t *testing.T) {
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, CIFAR100TrainFile), testutil.CIFAR(true, []byte{99, 0, 42}))
	testutil.WriteFile(t, filepath.Join(dir, CIFAR100TestFile), testutil.CIFAR(true, []byte{5}))
	var names []string
	for i := range 100 {
		names = append(names, fmt.Sprintf("class%d", i))
	}
	testutil.WriteFile(t, filepath.Join(dir, CIFAR100MetaFile), []byte(strings.Join(names, "\n")))
	tr, te, src, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Format != FormatCIFAR100 || !slices.Equal(tr.Labels, []int32{99, 0, 42}) || te.Labels[0] != 5 || tr.Classes[42] != "class42" {
		t.Fatalf("format %s, labels %v %v, classes %d", src.Format, tr.Labels, te.Labels, len(tr.Classes))
	}
	checkCIFARPixels(t, tr, 2, 2)
}

func TestCIFARErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file []byte
		kind CIFARKind
		want string
	}{
		{"empty", nil, CIFAR10, "empty file"},
		{"truncated", testutil.CIFAR(false, []byte{1, 2})[:3073+100], CIFAR10, "not a whole number of 3073-byte CIFAR-10 records (1 whole, then 100 bytes)"},
		{"label above", testutil.CIFAR(false, []byte{1, 10}), CIFAR10, "record 1 has label 10, above 9"},
		{"fine label above", testutil.CIFAR(true, []byte{100}), CIFAR100, "record 0 has label 100, above 99"},
		{"CIFAR-10 read as 100", testutil.CIFAR(false, []byte{1}), CIFAR100, "3074-byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadCIFAR("batch.bin", tc.file, tc.kind)
			wantErr(t, err, "cifar: batch.bin: ", tc.want)
		})
	}
	t.Run("truncated batch in a folder", func(t *testing.T) {
		dir := cifar10Dir(t)
		p := filepath.Join(dir, CIFAR10TrainFiles[2])
		os.Truncate(p, 5000)
		_, _, _, err := Open(dir, Options{})
		wantErr(t, err, p, "truncated")
	})
	t.Run("missing batch", func(t *testing.T) {
		dir := cifar10Dir(t)
		os.Remove(filepath.Join(dir, CIFAR10TestFile))
		_, _, _, err := Open(dir, Options{})
		wantErr(t, err, filepath.Join(dir, CIFAR10TestFile), "missing file")
	})
	t.Run("wrong names", func(t *testing.T) {
		dir := cifar10Dir(t)
		testutil.WriteFile(t, filepath.Join(dir, CIFAR10MetaFile), []byte("a\nb\n"))
		_, _, _, err := Open(dir, Options{})
		wantErr(t, err, CIFAR10MetaFile, "2 class names, but CIFAR-10 has 10")
	})
	t.Run("too large", func(t *testing.T) {
		_, _, _, err := Open(cifar10Dir(t), Options{MaxBytes: 1000})
		wantErr(t, err, "need 51.0 KiB in memory", "limit of 1000 bytes")
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%v does not match ErrTooLarge", err)
		}
	})
}

func FuzzReadCIFAR(f *testing.F) {
	f.Add(testutil.CIFAR(false, []byte{1, 2}), false)
	f.Add(testutil.CIFAR(true, []byte{99}), true)
	f.Add(testutil.CIFAR(false, []byte{10}), false)
	f.Add(testutil.CIFAR(false, []byte{1})[:100], false)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, b []byte, fine bool) {
		kind := CIFAR10
		if fine {
			kind = CIFAR100
		}
		img, lab, err := ReadCIFAR("fuzz", b, kind)
		if err != nil {
			if img != nil || lab != nil || !errors.Is(err, ErrFormat) || !strings.HasPrefix(err.Error(), "cifar: fuzz: ") {
				t.Fatalf("error %v with %d pixels, %d labels", err, len(img), len(lab))
			}
			return
		}
		if len(img) != len(lab)*CIFARPixels || len(lab)*kind.record() != len(b) {
			t.Fatalf("%d bytes gave %d pixels and %d labels", len(b), len(img), len(lab))
		}
		for _, l := range lab {
			if l < 0 || int(l) >= int(kind) {
				t.Fatalf("label %d", l)
			}
		}
	})
}

// folder writes an image folder under dir: for each class, n pictures of
// w×h as ext (".png", ".jpg", ".gif").
func folder(t *testing.T, dir string, classes []string, n, w, h int, colour bool, ext string) {
	for k, c := range classes {
		for i := range n {
			testutil.WriteImage(t, filepath.Join(dir, c, fmt.Sprintf("%03d%s", i, ext)), testutil.ClassImage(k, i, w, h, colour))
		}
	}
}

func TestOpenFolderSplit(t *testing.T) {
	dir := t.TempDir()
	folder(t, filepath.Join(dir, "train"), []string{"cat", "dog", "emu"}, 4, 12, 10, false, ".png")
	folder(t, filepath.Join(dir, "train"), []string{"dog"}, 1, 12, 10, false, ".gif")
	folder(t, filepath.Join(dir, "test"), []string{"cat", "emu"}, 2, 12, 10, false, ".png")
	testutil.WriteFile(t, filepath.Join(dir, "train", "cat", "notes.txt"), []byte("x"))
	testutil.WriteFile(t, filepath.Join(dir, "train", ".DS_Store"), []byte("x"))
	tr, te, src, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Format != FormatFolder || tr.N != 13 || te.N != 4 || tr.H != 10 || tr.W != 12 || tr.C != 1 {
		t.Fatalf("%s: %d and %d images of %d×%d×%d", src.Format, tr.N, te.N, tr.H, tr.W, tr.C)
	}
	if !slices.Equal(tr.Classes, []string{"cat", "dog", "emu"}) || !slices.Equal(slices.Sorted(slices.Values(te.Labels)), []int32{0, 0, 2, 2}) {
		t.Errorf("classes %q, test labels %v", tr.Classes, te.Labels)
	}
	// Shuffled once: not class by class.
	if slices.IsSorted(tr.Labels) {
		t.Errorf("training labels %v are in class order", tr.Labels)
	}
	if src.Ignored != 2 || src.Skipped != 0 || src.Resized != 0 {
		t.Errorf("ignored %d, skipped %d, resized %d", src.Ignored, src.Skipped, src.Resized)
	}
	// Pixels as written, PNG and GIF: every picture of dog is among its images.
	k5 := -1
	for i := range 4 {
		want := testutil.ClassImage(1, i, 12, 10, false).(*image.Gray).Pix
		found := -1
		for k := range tr.N {
			if tr.Labels[k] == 1 && bytes.Equal(tr.Image(k), want) {
				found = k
			}
		}
		if found < 0 {
			t.Errorf("dog's picture %d is not among the images", i)
		}
		if i == 0 {
			k5 = found
		}
	}
	want := testutil.ClassImage(1, 0, 12, 10, false).(*image.Gray).Pix
	if !strings.Contains(src.Describe(tr), "10×12×1, 3 classes (2 other files ignored)") {
		t.Errorf("Describe = %q", src.Describe(tr))
	}
	// Forced to three channels: grey repeated.
	tr3, _, _, err := Open(dir, Options{Channels: 3})
	if err != nil || k5 < 0 || tr3.C != 3 || tr3.Image(k5)[3*7+2] != want[7] {
		t.Fatalf("--channels 3: %v", err)
	}
}

func TestOpenFolderTree(t *testing.T) {
	dir := t.TempDir()
	folder(t, dir, []string{"a", "b"}, 10, 8, 8, true, ".png")
	folder(t, dir, []string{"c"}, 5, 8, 8, true, ".jpg")
	folder(t, dir, []string{"c"}, 1, 16, 12, true, ".png") // an odd size, resized
	tr, te, src, err := Open(dir, Options{ValSplit: 0.2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if tr.C != 3 || tr.H != 8 || tr.W != 8 || src.Sizes != 2 || src.Resized != 1 {
		t.Errorf("%d×%d×%d, %d sizes, %d resized", tr.H, tr.W, tr.C, src.Sizes, src.Resized)
	}
	count := map[int32]int{}
	for _, l := range te.Labels {
		count[l]++
	}
	if te.N != 5 || count[0] != 2 || count[1] != 2 || count[2] != 1 || tr.N != 21 {
		t.Errorf("split %d/%d, test classes %v: want 2, 2, 1 held out", tr.N, te.N, count)
	}
	if s := src.Split; s == nil || s.Fraction != 0.2 || s.Seed != 3 || s.Test != 5 || s.Train != 21 {
		t.Errorf("split record %+v", src.Split)
	}
	// The same seed splits the same way; another seed otherwise.
	_, te2, _, _ := Open(dir, Options{ValSplit: 0.2, Seed: 3})
	_, te3, _, _ := Open(dir, Options{ValSplit: 0.2, Seed: 4})
	if !bytes.Equal(te.Images, te2.Images) {
		t.Error("seed 3 splits differently twice")
	}
	if bytes.Equal(te.Images, te3.Images) {
		t.Error("seeds 3 and 4 split alike")
	}
	// --image-size and --channels 1.
	tr4, _, _, err := Open(dir, Options{Height: 5, Width: 7, Channels: 1})
	if err != nil || tr4.H != 5 || tr4.W != 7 || tr4.C != 1 || len(tr4.Images) != tr4.N*35 {
		t.Fatalf("5×7 grey: %v", err)
	}
}

func TestOpenConvertsIDX(t *testing.T) {
	dir := t.TempDir()
	for name, b := range map[string][]byte{TrainImagesFile: okImages, TrainLabelsFile: okLabels, TestImagesFile: okImages, TestLabelsFile: okLabels} {
		testutil.WriteFile(t, filepath.Join(dir, name), b)
	}
	tr, _, src, err := Open(dir, Options{Channels: 3, Height: 6, Width: 8})
	if err != nil {
		t.Fatal(err)
	}
	if src.Format != FormatIDX || tr.H != 6 || tr.W != 8 || tr.C != 3 || tr.Classes[9] != "9" || src.Digits {
		t.Fatalf("%s %d×%d×%d, digits %v", src.Format, tr.H, tr.W, tr.C, src.Digits)
	}
	// Enlarging 3×4 to 6×8 keeps the corner pixel; grey repeated.
	if img := tr.Image(0); img[0] != 0 || img[1] != 0 || img[2] != 0 || img[len(img)-1] != 77 {
		t.Errorf("converted image %v", img)
	}
}

func TestOpenBadData(t *testing.T) {
	good := func(t *testing.T) string {
		dir := t.TempDir()
		folder(t, filepath.Join(dir, "train"), []string{"a", "b"}, 3, 6, 6, false, ".png")
		folder(t, filepath.Join(dir, "test"), []string{"a", "b"}, 1, 6, 6, false, ".png")
		return dir
	}
	t.Run("corrupt image", func(t *testing.T) {
		dir := good(t)
		bad := filepath.Join(dir, "train", "b", "bad.png")
		var b bytes.Buffer
		testutil.WriteImage(t, bad, testutil.ClassImage(0, 0, 6, 6, false))
		full, _ := os.ReadFile(bad)
		b.Write(full[:len(full)-30]) // truncated: the header reads, the pixels do not
		testutil.WriteFile(t, bad, b.Bytes())
		junk := filepath.Join(dir, "train", "a", "junk.jpg")
		testutil.WriteFile(t, junk, []byte("not a picture"))
		_, _, _, err := Open(dir, Options{})
		wantErr(t, err, "--skip-bad")
		if !strings.Contains(err.Error(), bad) && !strings.Contains(err.Error(), junk) {
			t.Errorf("error %q names neither bad file", err)
		}
		tr, _, src, err := Open(dir, Options{SkipBad: true})
		if err != nil || src.Skipped != 2 || tr.N != 6 {
			t.Fatalf("--skip-bad: %v, skipped %d, %d images", err, src.Skipped, tr.N)
		}
		if !strings.Contains(src.Describe(tr), "2 bad files skipped") {
			t.Errorf("Describe = %q", src.Describe(tr))
		}
	})
	t.Run("empty class folder", func(t *testing.T) {
		dir := good(t)
		os.MkdirAll(filepath.Join(dir, "train", "c"), 0o755)
		testutil.WriteFile(t, filepath.Join(dir, "train", "c", "readme.txt"), nil)
		_, _, _, err := Open(dir, Options{})
		wantErr(t, err, filepath.Join(dir, "train", "c"), `class folder "c" holds no images`)
	})
	t.Run("test class not in train", func(t *testing.T) {
		dir := good(t)
		folder(t, filepath.Join(dir, "test"), []string{"zebra"}, 1, 6, 6, false, ".png")
		_, _, _, err := Open(dir, Options{})
		wantErr(t, err, filepath.Join(dir, "test", "zebra"), `class "zebra" is not in`)
	})
	t.Run("no classes", func(t *testing.T) {
		dir := t.TempDir()
		testutil.WriteImage(t, filepath.Join(dir, "train", "x.png"), testutil.ClassImage(0, 0, 4, 4, false))
		_, _, _, err := Open(dir, Options{})
		wantErr(t, err, "no class folders", "(1 files are directly in it)")
	})
	t.Run("nothing found", func(t *testing.T) {
		dir := t.TempDir()
		testutil.WriteFile(t, filepath.Join(dir, "notes.txt"), nil)
		_, _, _, err := Open(dir, Options{})
		wantErr(t, err, dir, "no data set found", "data_batch_1.bin", "DIR/<class>/*", TrainImagesFile)
	})
	t.Run("missing path", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "none")
		_, _, _, err := Open(p, Options{})
		wantErr(t, err, p, "missing file")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Error("not fs.ErrNotExist")
		}
	})
	t.Run("symlink loop", func(t *testing.T) {
		dir := good(t)
		if err := os.Symlink("..", filepath.Join(dir, "train", "a", "loop")); err != nil {
			t.Skip("no symbolic links here:", err)
		}
		_, _, _, err := Open(dir, Options{})
		wantErr(t, err, filepath.Join(dir, "train", "a", "loop"), "symbolic link loop")
		_, _, src, err := Open(dir, Options{SkipBad: true})
		if err != nil || src.Skipped != 1 {
			t.Errorf("--skip-bad: %v, %d skipped", err, src.Skipped)
		}
		os.Symlink("self", filepath.Join(dir, "train", "b", "self"))
		_, _, _, err = Open(dir, Options{SkipBad: true})
		if err != nil {
			t.Errorf("--skip-bad with a link to itself: %v", err)
		}
		_, _, _, err = Open(dir, Options{})
		wantErr(t, err, filepath.Join(dir, "train", "a", "loop"))
	})
	t.Run("unreadable file", func(t *testing.T) {
		dir := good(t)
		victim := filepath.Join(dir, "train", "b", "001.png")
		defer func(f func(string) (io.ReadCloser, error)) { openFile = f }(openFile)
		openFile = func(name string) (io.ReadCloser, error) {
			if name == victim {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
			}
			return os.Open(name)
		}
		_, _, _, err := Open(dir, Options{})
		wantErr(t, err, victim, "permission denied")
		_, _, src, err := Open(dir, Options{SkipBad: true})
		if err != nil || src.Skipped != 1 {
			t.Errorf("--skip-bad: %v, %d skipped", err, src.Skipped)
		}
	})
	t.Run("every image of a class bad", func(t *testing.T) {
		dir := t.TempDir()
		folder(t, filepath.Join(dir, "a"), []string{"x"}, 3, 4, 4, false, ".png")
		testutil.WriteFile(t, filepath.Join(dir, "b", "1.png"), []byte("junk"))
		_, _, _, err := Open(filepath.Join(dir), Options{SkipBad: true})
		wantErr(t, err, `class folder "b" has no readable image`)
	})
	t.Run("too large", func(t *testing.T) {
		_, _, _, err := Open(good(t), Options{MaxBytes: 100})
		wantErr(t, err, "need 288 bytes in memory", "limit of 100 bytes")
	})
	t.Run("too few to split", func(t *testing.T) {
		dir := t.TempDir()
		folder(t, dir, []string{"a", "b"}, 1, 4, 4, false, ".png")
		_, _, _, err := Open(dir, Options{})
		wantErr(t, err, "too few images")
	})
}

// TestOpenKnowsMNIST checks Source.Digits: true for the embedded MNIST and
// for IDX files holding MNIST's images, false once one pixel differs (as
// Fashion-MNIST's or KMNIST's files, of the same format, would).
func TestOpenKnowsMNIST(t *testing.T) {
	if _, _, src, err := Open("", Options{}); err != nil || !src.Digits {
		t.Fatalf("embedded MNIST: digits %v, %v", src != nil && src.Digits, err)
	}
	train, test := embedded(t)
	write := func(dir string, d *Dataset, images, labels string, n int, change bool) {
		img := slices.Clone(d.Images[:n*784])
		if change {
			img[50*784+400]++
		}
		lab := make([]byte, n)
		for i := range lab {
			lab[i] = byte(d.Labels[i])
		}
		testutil.WriteFile(t, filepath.Join(dir, images), testutil.Gzip(testutil.IDX(0x803, []uint32{uint32(n), 28, 28}, img)))
		testutil.WriteFile(t, filepath.Join(dir, labels), testutil.Gzip(testutil.IDX(0x801, []uint32{uint32(n)}, lab)))
	}
	for _, c := range []struct {
		trainChanged, testChanged, want bool
	}{{false, false, true}, {true, false, false}, {false, true, false}} {
		dir := t.TempDir()
		write(dir, train, TrainImagesFile, TrainLabelsFile, 100, c.trainChanged)
		write(dir, test, TestImagesFile, TestLabelsFile, 60, c.testChanged)
		if _, _, src, err := Open(dir, Options{}); err != nil || src.Digits != c.want {
			t.Errorf("train changed %v, test changed %v: digits %v (%v), want %v", c.trainChanged, c.testChanged, src != nil && src.Digits, err, c.want)
		}
		if _, _, src, err := Open(dir, Options{TestOnly: true}); err != nil || src.Digits != !c.testChanged {
			t.Errorf("test set only, changed %v: digits %v (%v)", c.testChanged, src != nil && src.Digits, err)
		}
	}
}

// TestSplitStratified splits a data set whose images carry their index:
// every image lands in exactly one part, each with its label, in the
// original order; each class holds round(fraction × its size) out; the
// same seed gives the same split and another seed a different one.
func TestSplitStratified(t *testing.T) {
	classSize := []int{7, 20, 2, 13}
	build := func() *Dataset {
		d := &Dataset{H: 1, W: 2, C: 1, Classes: []string{"a", "b", "c", "d"}, ImagesFile: "pics"}
		left := slices.Clone(classSize) // the classes interleaved until each is full
		for d.N < 42 {
			for c := range left {
				if left[c] > 0 {
					left[c]--
					d.Images = append(d.Images, uint8(d.N), uint8(c))
					d.Labels = append(d.Labels, int32(c))
					d.N++
				}
			}
		}
		return d
	}
	held := func(seed uint64) []int {
		orig := build()
		train, test, s, err := SplitStratified(build(), 0.25, seed)
		if err != nil {
			t.Fatal(err)
		}
		if s.Train != train.N || s.Test != test.N || train.N+test.N != orig.N {
			t.Fatalf("split %+v of %d images into %d and %d", s, orig.N, train.N, test.N)
		}
		var ids []int
		perClass := make([]int, len(classSize))
		for _, part := range []*Dataset{train, test} {
			if len(part.Images) != part.N*2 || len(part.Labels) != part.N {
				t.Fatalf("a part of %d images has %d bytes and %d labels", part.N, len(part.Images), len(part.Labels))
			}
			prev := -1
			for i := range part.N {
				id, label := int(part.Images[2*i]), part.Labels[i]
				if int32(part.Images[2*i+1]) != label || orig.Labels[id] != label {
					t.Fatalf("image %d has label %d", id, label)
				}
				if id <= prev {
					t.Fatalf("image %d after image %d: order not kept", id, prev)
				}
				prev = id
				if part == test {
					perClass[label]++
					ids = append(ids, id)
				}
			}
		}
		for c, n := range classSize {
			if want := int(math.Round(0.25 * float64(n))); perClass[c] != want {
				t.Errorf("class %d of %d images: %d held out, want %d", c, n, perClass[c], want)
			}
		}
		return ids
	}
	a, b, other := held(1), held(1), held(2)
	if !slices.Equal(a, b) {
		t.Errorf("seed 1 held out %v, then %v", a, b)
	}
	if slices.Equal(a, other) {
		t.Errorf("seeds 1 and 2 held out the same images %v", a)
	}
}
