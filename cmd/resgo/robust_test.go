package main

// Tests that bad input, bad flags, numeric faults and disk faults give a
// clear one-line error and the right exit status, and lose nothing.

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/image/tiff"

	"resgo/data"
	"resgo/internal/testmnist"
	"resgo/internal/testutil"
)

// The exit statuses that resgo documents (README, "When things go wrong").
const (
	exitOK          = 0
	exitFailed      = 1 // training diverged, a save failed, an internal error
	exitUsage       = 2 // a mistake in the command line or an input file
	exitInterrupted = 130
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// resgoBinary builds the resgo command once per test run and returns its
// path, for black-box tests of the real process (exit status, what reaches
// stderr, memory).
func resgoBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "resgo-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "resgo")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// binResult is what a run of the built binary did.
type binResult struct {
	code           int
	stdout, stderr string
}

// runBinary runs the built resgo with args (prefixed by wrap, if any: a
// command such as prlimit that execs resgo).
func runBinary(t *testing.T, wrap []string, args ...string) binResult {
	t.Helper()
	argv := append(append(append([]string{}, wrap...), resgoBinary(t)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := binResult{stdout: o.String(), stderr: e.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%v: %v", argv, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// checkOneLineError fails unless stderr is exactly one line that starts
// with "resgo: " and contains every one of want, without a trace of a
// panic.
func checkOneLineError(t *testing.T, what, stderr string, want ...string) {
	t.Helper()
	if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") || strings.Contains(stderr, "internal error") {
		t.Errorf("%s: a panic reached stderr:\n%s", what, stderr)
		return
	}
	if !strings.HasPrefix(stderr, "resgo: ") || !strings.HasSuffix(stderr, "\n") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("%s: stderr is not one line starting with \"resgo: \":\n%q", what, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("%s: stderr lacks %q:\n%s", what, w, stderr)
		}
	}
}

// smallMNIST is a valid --data folder's four files (gzipped): the first
// 64 training and 32 test images of MNIST.
func smallMNIST(t *testing.T) map[string][]byte {
	t.Helper()
	tr, te, err := testmnist.Load()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, s := range []struct {
		d              *data.Dataset
		n              int
		images, labels string
	}{{tr, 64, data.TrainImagesFile, data.TrainLabelsFile}, {te, 32, data.TestImagesFile, data.TestLabelsFile}} {
		files[s.images] = testutil.Gzip(testutil.IDX(data.MagicImages, []uint32{uint32(s.n), 28, 28}, s.d.Images[:s.n*784]))
		lab := make([]byte, s.n)
		for i, l := range s.d.Labels[:s.n] {
			lab[i] = byte(l)
		}
		files[s.labels] = testutil.Gzip(testutil.IDX(data.MagicLabels, []uint32{uint32(s.n)}, lab))
	}
	return files
}

// writeDir writes files into a new folder, skipping nil contents.
func writeDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		if b == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// prlimitData, if prlimit is installed, runs a command with its data
// segment (and so the Go heap) limited to 512 MiB.
var prlimitData = func() []string {
	p, err := exec.LookPath("prlimit")
	if err != nil {
		return nil
	}
	return []string{p, fmt.Sprintf("--data=%d", 512<<20)}
}()

// TestBadDataFiles gives train and eval a --data folder with one file
// broken in each way an IDX file can be, and checks for exit status 2 and
// one line that names the file and the problem, with no panic, in-process
// and (without -short) from the built binary.
func TestBadDataFiles(t *testing.T) {
	good := smallMNIST(t)
	raw := func(name string) []byte { // the file decompressed
		zr, err := gzip.NewReader(bytes.NewReader(good[name]))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(zr)
		return b.Bytes()
	}
	trainImg, trainLab := raw(data.TrainImagesFile), raw(data.TrainLabelsFile)
	testLab := raw(data.TestLabelsFile)
	withLabel := func(b []byte, i int, v byte) []byte {
		b = bytes.Clone(b)
		b[8+i] = v
		return b
	}
	cases := []struct {
		name    string
		file    string // the file replaced (or removed, if content is nil)
		content []byte
		want    string
		also    map[string][]byte // other files replaced
	}{
		{"claimed gzip but text", data.TrainImagesFile, []byte("<html>404 Not Found</html>\n"),
			"not gzip-compressed, and not an IDX file either: want magic 0x803, got 0x3c68746d", nil},
		{"gzip magic then garbage", data.TrainImagesFile, []byte{0x1f, 0x8b, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42},
			"bad gzip: invalid header", nil},
		{"truncated gzip", data.TrainImagesFile, good[data.TrainImagesFile][:len(good[data.TrainImagesFile])/2],
			"truncated gzip stream", nil},
		{"corrupt gzip", data.TestLabelsFile, func() []byte {
			b := bytes.Clone(good[data.TestLabelsFile])
			b[len(b)-5] ^= 0xff // the CRC-32
			return b
		}(), "bad gzip: checksum mismatch", nil},
		{"wrong magic", data.TrainImagesFile, testutil.Gzip(append([]byte{0, 0, 0x0d, 3}, trainImg[4:]...)),
			"want magic 0x803, got 0xd03", nil},
		{"labels file for images", data.TestImagesFile, good[data.TestLabelsFile],
			"want magic 0x803, got 0x801: 1 dimension, not 3", nil},
		{"four dimensions", data.TrainImagesFile, testutil.Gzip(testutil.IDX(0x804, []uint32{64, 28, 28, 1}, trainImg[16:])),
			"want magic 0x803, got 0x804: 4 dimensions, not 3", nil},
		{"zero dimension", data.TrainImagesFile, testutil.Gzip(testutil.IDX(data.MagicImages, []uint32{0, 28, 28}, nil)),
			"dimension 0 of 0×28×28 is zero", nil},
		{"absurd dimension", data.TrainImagesFile, testutil.IDX(data.MagicImages, []uint32{0xffffffff, 28, 28}, trainImg[16:]),
			"dimensions 4294967295×28×28 exceed the limit of 2147483648 bytes", nil},
		{"forged dimension under the limit", data.TrainImagesFile, testutil.Gzip(testutil.IDX(data.MagicImages, []uint32{2700000, 28, 28}, trainImg[16:])),
			"truncated data: dimensions 2700000×28×28 need 2116800000 bytes, got 50176", nil},
		{"fewer bytes than the header says", data.TrainImagesFile, trainImg[:len(trainImg)-784-100],
			"truncated data: dimensions 64×28×28 need 50176 bytes, got 49292", nil},
		{"trailing bytes", data.TrainLabelsFile, append(bytes.Clone(trainLab), 7),
			"trailing data after the 64 bytes of dimensions 64", nil},
		{"empty file", data.TestImagesFile, []byte{}, "empty file: no IDX header", nil},
		{"label above 9", data.TestLabelsFile, withLabel(testLab, 5, 10), "label 10 at index 5 is above 9", nil},
		{"label 255", data.TrainLabelsFile, testutil.Gzip(withLabel(trainLab, 63, 255)), "label 255 at index 63 is above 9", nil},
		{"count mismatch", data.TrainLabelsFile, testutil.Gzip(testutil.IDX(data.MagicLabels, []uint32{63}, trainLab[8:8+63])),
			"63 labels, but ", nil},
		{"test images of another size", data.TestImagesFile, testutil.Gzip(testutil.IDX(data.MagicImages, []uint32{32, 32, 32}, make([]byte, 32*32*32))),
			"images are 32×32, but the training images are 28×28", nil},
		{"missing file", data.TestLabelsFile, nil, "missing file (nor is there t10k-labels-idx1-ubyte)", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string][]byte{}
			for k, v := range good {
				files[k] = v
			}
			files[c.file] = c.content
			for k, v := range c.also {
				files[k] = v
			}
			dir := writeDir(t, files)
			for _, args := range [][]string{
				{"train", "--data", dir, "--epochs", "1", "--train-limit", "16", "--test-limit", "8"},
				{"eval", "--data", dir, "--checkpoint", ckTestModel},
			} {
				path, want := filepath.Join(dir, c.file), c.want
				if args[0] == "eval" { // eval reads the test files only
					switch {
					case c.also[data.TestImagesFile] != nil:
						path = filepath.Join(dir, data.TestImagesFile)
					case c.file == data.TrainImagesFile || c.file == data.TrainLabelsFile:
						if code, _, stderr := ckRun(args...); code != exitOK {
							t.Errorf("eval with a bad training file: exit %d, want 0\n%s", code, stderr)
						}
						continue
					case c.file == data.TestImagesFile && strings.Contains(want, "training images"):
						// Alone, test images of another size are resized to
						// the model's input, as every data set is.
						if code, _, stderr := ckRun(args...); code != exitOK {
							t.Errorf("eval of 32×32 test images: exit %d, want 0\n%s", code, stderr)
						}
						continue
					}
				}
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				code, stdout, stderr := ckRun(args...)
				runtime.ReadMemStats(&after)
				if code != exitUsage {
					t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", args[0], code, exitUsage, stdout, stderr)
				}
				checkOneLineError(t, args[0], stderr, "idx: "+path+": ", want)
				// A forged header must not make resgo allocate what it claims
				// (2 GB): the reader grows its buffer as data arrives.
				if a := after.TotalAlloc - before.TotalAlloc; a > 256<<20 {
					t.Errorf("%s allocated %d MiB", args[0], a>>20)
				}
				if testing.Short() {
					continue
				}
				// The binary runs with its data segment limited to 512 MiB
				// (where prlimit exists): allocating the 2 GB a forged
				// header claims would kill it with a runtime stack trace.
				r := runBinary(t, prlimitData, args...)
				if r.code != exitUsage {
					t.Errorf("binary %s: exit %d, want %d\nstderr: %s", args[0], r.code, exitUsage, r.stderr)
				}
				checkOneLineError(t, "binary "+args[0], r.stderr, "idx: "+path+": ", want)
			}
		})
	}
}

// TestBadDataDir checks a --data that does not exist or is a file.
func TestBadDataDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, c := range []struct {
		dir, want string
	}{
		{filepath.Join(dir, "none"), "data: " + filepath.Join(dir, "none") + ": missing file"},
		{file, "data: " + file + ": not a folder (nor a CIFAR .tar.gz archive): looked for MNIST's IDX files"},
	} {
		for _, cmd := range []string{"train", "eval"} {
			args := []string{cmd, "--data", c.dir}
			if cmd == "eval" {
				args = append(args, "--checkpoint", ckTestModel)
			}
			code, _, stderr := ckRun(args...)
			if code != exitUsage {
				t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
			}
			checkOneLineError(t, strings.Join(args, " "), stderr, c.want)
		}
	}
}

// TestFlagErrors gives every command invalid flags and arguments and checks
// for exit status 2, nothing on stdout and one line on stderr that says what
// is wrong and points to the command's --help.
func TestFlagErrors(t *testing.T) {
	img := filepath.Join(t.TempDir(), "digit.png")
	tr, _, err := testmnist.Load()
	if err != nil {
		t.Fatal(err)
	}
	writeDigitPNG(t, img, tr, 0, 1, 1, 28, 28, false)
	ck := []string{"--checkpoint", ckTestModel}
	cases := map[string][][]string{
		"train": {
			{"--batch", "0"}, {"--batch", "-3"}, {"--epochs", "-1"}, {"--model", "nope"},
			{"--train-limit", "60001"}, {"--test-limit", "10001"}, {"--train-limit", "-1"},
			{"--threads", "0"}, {"--threads", "100000"}, {"--lr", "0"}, {"--lr", "-1"}, {"--lr", "NaN"}, {"--lr", "Inf"},
			{"--width", "-1"}, {"--width", "NaN"}, {"--model", "vgg16", "--width", "64"}, {"--max-loss", "-1"},
			{"--bn-momentum", "0"}, {"--bn-momentum", "1"}, {"--bn-momentum", "NaN"}, {"--shuffle-buffer", "0"},
			{"--nope"}, {"--batch", "x"}, {"--epochs", "1.5"}, {"--seed", "-1"}, {"--lr", "fast"}, {"extra"},
			{"--epochs", "1", "extra"},
		},
		"eval": {
			{}, append([]string{"--test-limit", "-1"}, ck...), append([]string{"--test-limit", "10001"}, ck...),
			append([]string{"--batch", "-1"}, ck...), append([]string{"--threads", "0"}, ck...),
			append([]string{"--nope"}, ck...), append([]string{"--batch", "x"}, ck...), append([]string{"extra"}, ck...),
		},
		"predict": {
			{img}, ck, append([]string{"--top", "0", img}, ck...), append([]string{"--threads", "0", img}, ck...),
			append([]string{"--nope", img}, ck...), append([]string{"--top", "x", img}, ck...),
		},
		"compare": {
			{"--models", "nope"}, {"--models", ","}, {"--models", "resnet,resnet"}, {"--epochs", "-1"}, {"--batch", "0"},
			{"--threads", "0"}, {"--train-limit", "70000"}, {"--bn-momentum", "1"}, {"--width", "5"},
			{"--nope"}, {"--lr", "x"}, {"extra"},
		},
		"bench": {
			{"--batch", "0"}, {"--batch", "60001"}, {"--steps", "0"}, {"--warmup", "-1"}, {"--threads", "0"},
			{"--model", "nope"}, {"--width", "5"}, {"--nope"}, {"--steps", "x"}, {"extra"},
		},
		"summary": {
			{"--model", "nope"}, {"--width", "-1"}, {"--model", "vgg16", "--width", "2"}, {"--nope"}, {"--width", "x"}, {"extra"},
		},
	}
	for cmd, list := range cases {
		for _, args := range list {
			argv := append([]string{cmd}, args...)
			code, stdout, stderr := ckRun(argv...)
			what := strings.Join(argv, " ")
			if code != exitUsage {
				t.Errorf("%s: exit %d, want %d (stderr %q)", what, code, exitUsage, stderr)
			}
			if stdout != "" {
				t.Errorf("%s: stdout %q, want nothing", what, stdout)
			}
			checkOneLineError(t, what, stderr, "(see 'resgo "+cmd+" --help')")
		}
	}
	// --help (-h, help COMMAND) is no mistake: the usage once, status 0.
	for cmd := range cases {
		for _, argv := range [][]string{{cmd, "--help"}, {cmd, "-h"}, {"help", cmd}} {
			code, stdout, stderr := ckRun(argv...)
			if code != exitOK || stderr != "" || strings.Count(stdout, "Usage: resgo "+cmd) != 1 {
				t.Errorf("%v: exit %d, stderr %q, usage printed %d times", argv, code, stderr, strings.Count(stdout, "Usage: resgo "+cmd))
			}
		}
	}
	// An unknown command points to resgo --help.
	code, _, stderr := ckRun("nope")
	if code != exitUsage {
		t.Errorf("resgo nope: exit %d", code)
	}
	checkOneLineError(t, "resgo nope", stderr, `unknown command "nope"`, "resgo --help")
}

// TestBadImages gives predict pictures it cannot use and eval and predict
// checkpoints that are not files, and checks for exit status 2 and one
// line naming the file and the problem.
func TestBadImages(t *testing.T) {
	dir := t.TempDir()
	tr, _, err := testmnist.Load()
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.png")
	writeDigitPNG(t, good, tr, 0, 1, 1, 28, 28, false)
	png, _ := os.ReadFile(good)
	// A PNG whose header claims 100000×100000 pixels (a decompression
	// bomb): its IHDR chunk's width and height, and the chunk's CRC.
	bomb := bytes.Clone(png)
	binary.BigEndian.PutUint32(bomb[16:], 100000)
	binary.BigEndian.PutUint32(bomb[20:], 100000)
	binary.BigEndian.PutUint32(bomb[29:], crc32.ChecksumIEEE(bomb[12:29]))
	blank := filepath.Join(dir, "blank.png")
	writeDigitPNG(t, blank, &data.Dataset{Images: make([]byte, 784), Labels: []int32{0}, N: 1, H: 28, W: 28}, 0, 1, 1, 28, 28, false)
	var tif bytes.Buffer
	if err := tiff.Encode(&tif, image.NewGray(image.Rect(0, 0, 28, 28)), nil); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"text.png": []byte("not a picture"), "truncated.png": png[:len(png)/2], "bomb.png": bomb, "empty.png": nil,
		"image.tiff": tif.Bytes()}
	for name, b := range files {
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	for _, c := range []struct {
		file, want string
	}{
		{"none.png", "no such file or directory"},
		{"text.png", "not a PNG, JPEG or GIF image"},
		{"empty.png", "not a PNG, JPEG or GIF image"},
		{"truncated.png", "bad png image: "},
		{"bomb.png", "the png image is 100000×100000, larger than 50000000 pixels"},
		{"blank.png", "blank"},
		{".", "is a directory"},
		{"image.tiff", "a TIFF image: resgo reads PNG, JPEG or GIF"},
		{"/dev/zero", "is a device, not an image file"},
	} {
		path := c.file
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, c.file)
		} else if _, err := os.Stat(path); err != nil {
			continue
		}
		code, stdout, stderr := ckRun("predict", "--checkpoint", ckTestModel, good, path)
		if code != exitUsage || !strings.HasPrefix(stdout, good+": ") || strings.Count(stdout, "\n") != 1 {
			t.Errorf("predict %s: exit %d, stdout %q; want %d and the good image's line", c.file, code, stdout, exitUsage)
		}
		checkOneLineError(t, "predict "+c.file, stderr, path, c.want)
	}
	for _, args := range [][]string{
		{"eval", "--checkpoint", dir, "--test-limit", "10"},
		{"predict", "--checkpoint", dir, good},
		{"eval", "--checkpoint", good, "--test-limit", "10"},
	} {
		code, _, stderr := ckRun(args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
		checkOneLineError(t, strings.Join(args, " "), stderr, "checkpoint "+args[2]+": ")
	}
}
