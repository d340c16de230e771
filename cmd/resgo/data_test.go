package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"resgo"
	"resgo/checkpoint"
	"resgo/data"
	"resgo/internal/testutil"
)

// writeFolder writes, for each class, n pictures of w×h (colour or grey)
// under dir/<class>/.
func writeFolder(t *testing.T, dir string, classes []string, n, w, h int, colour bool, ext string) {
	for k, c := range classes {
		for i := range n {
			testutil.WriteImage(t, filepath.Join(dir, c, fmt.Sprintf("%02d%s", i, ext)), testutil.ClassImage(k, i, w, h, colour))
		}
	}
}

// mustRun runs resgo and fails t unless it exits 0; it returns stdout.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := ckRun(args...)
	if code != 0 {
		t.Fatalf("resgo %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// wantIn fails t unless s holds every part.
func wantIn(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s lacks %q:\n%s", what, p, s)
		}
	}
}

// Train, eval and predict through the command line on CIFAR's binary
// format (32×32×3) and on image folders of one and three channels and other
// sizes.
func TestOwnImagesCLI(t *testing.T) {
	animals := []string{"cat", "dog", "emu"}
	t.Run("CIFAR-10", func(t *testing.T) {
		dir := t.TempDir()
		for i, f := range data.CIFAR10TrainFiles {
			testutil.WriteFile(t, filepath.Join(dir, f), testutil.CIFAR(false, []byte{byte(i), byte(i + 5), 3}))
		}
		testutil.WriteFile(t, filepath.Join(dir, data.CIFAR10TestFile), testutil.CIFAR(false, []byte{0, 3, 9}))
		testutil.WriteFile(t, filepath.Join(dir, data.CIFAR10MetaFile),
			[]byte("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"))
		runs := t.TempDir()
		out := mustRun(t, "train", "--data", dir, "--epochs", "1", "--batch", "5", "--threads", "2", "--checkpoint-dir", runs)
		wantIn(t, "train", out, "Data: CIFAR-10 "+dir+": 32×32×3, 10 classes", "on 15 images, testing on 3")
		ck := filepath.Join(runs, "best.safetensors")
		st, err := checkpoint.Load(ck)
		if err != nil {
			t.Fatal(err)
		}
		if st.Classes[9] != "truck" || st.Run.Format != data.FormatCIFAR10 || st.Options.Height != 32 || st.Options.Channels != 3 {
			t.Errorf("checkpoint: classes %q, format %q, options %+v", st.Classes, st.Run.Format, st.Options)
		}
		out = mustRun(t, "eval", "--checkpoint", ck) // the data it was trained on
		wantIn(t, "eval", out, "of 3 images)", "airplane        0", "truck           9", "automobile")
		pic := filepath.Join(t.TempDir(), "car.jpg")
		testutil.WriteImage(t, pic, testutil.ClassImage(1, 0, 50, 40, true))
		out = mustRun(t, "predict", "--checkpoint", ck, "--top", "2", pic)
		if !strings.HasPrefix(out, pic+":  ") || strings.Count(out, "%") != 2 || !strings.Contains(out, ") ") {
			t.Errorf("predict: %q, want the file, then two classes as name (index) probability", out)
		}
		m, err := resgo.Load(ck)
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Predict(testutil.ClassImage(0, 0, 8, 8, false))
		if err != nil || p.Label != st.Classes[p.Class] || m.Info().Channels != 3 || m.Info().ClassNames[3] != "cat" {
			t.Errorf("Predict = %+v, %v; info %+v", p, err, m.Info())
		}
	})
	t.Run("IDX files of other pictures than digits", func(t *testing.T) {
		// Fashion-MNIST's format and shape: 28×28 grey, classes 0 to 9, but
		// not MNIST's images, so pictures are only scaled for the model.
		dir := t.TempDir()
		idx := func(images, labels string, n int) {
			img, lab := make([]byte, n*784), make([]byte, n)
			for i := range n {
				lab[i] = byte(i % 10)
				for p := range 784 {
					img[i*784+p] = byte((p*7 + i*31) % 256)
				}
			}
			testutil.WriteFile(t, filepath.Join(dir, images), testutil.Gzip(testutil.IDX(0x803, []uint32{uint32(n), 28, 28}, img)))
			testutil.WriteFile(t, filepath.Join(dir, labels), testutil.Gzip(testutil.IDX(0x801, []uint32{uint32(n)}, lab)))
		}
		idx(data.TrainImagesFile, data.TrainLabelsFile, 20)
		idx(data.TestImagesFile, data.TestLabelsFile, 10)
		runs := t.TempDir()
		mustRun(t, "train", "--data", dir, "--model", "vgg16-reduced", "--epochs", "1", "--batch", "10", "--threads", "2", "--checkpoint-dir", runs)
		ck := filepath.Join(runs, "last.safetensors")
		st, err := checkpoint.Load(ck)
		if err != nil {
			t.Fatal(err)
		}
		onnxFile := filepath.Join(t.TempDir(), "fashion.onnx")
		mustRun(t, "export", "--checkpoint", ck, "-o", onnxFile)
		// A picture off centre keeps its place: scaled, not cropped and
		// centred as a digit would be.
		pic := image.NewGray(image.Rect(0, 0, 28, 28))
		for y := 2; y < 9; y++ {
			for x := 3; x < 7; x++ {
				pic.SetGray(x, y, color.Gray{Y: 255})
			}
		}
		for _, f := range []string{ck, onnxFile} {
			m, err := resgo.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			in, err := m.Prepare(pic)
			if err != nil || m.Info().Digits || in[2*28+3] != 1 || in[14*28+14] != 0 {
				t.Errorf("%s: digits %v, prepared %v (%v)", f, m.Info().Digits, in, err)
			}
		}
		if st.Run.Prepare != checkpoint.PreparePixels {
			t.Errorf("checkpoint: prepare %q, want %q", st.Run.Prepare, checkpoint.PreparePixels)
		}
		// The embedded MNIST's models are digit models.
		runs = t.TempDir()
		mustRun(t, "train", "--train-limit", "32", "--test-limit", "16", "--epochs", "1", "--threads", "2", "--checkpoint-dir", runs)
		if m, err := resgo.Load(filepath.Join(runs, "last.safetensors")); err != nil || !m.Info().Digits {
			t.Errorf("a model of MNIST: %v, digits %v", err, err == nil && m.Info().Digits)
		}
	})
	t.Run("grey folder, one tree", func(t *testing.T) {
		dir := t.TempDir()
		writeFolder(t, dir, animals, 6, 12, 10, false, ".png")
		testutil.WriteImage(t, filepath.Join(dir, "cat", "big.png"), testutil.ClassImage(0, 9, 20, 20, false)) // an odd size, resized
		testutil.WriteFile(t, filepath.Join(dir, "dog", "notes.txt"), []byte("x"))
		runs := t.TempDir()
		out := mustRun(t, "train", "--data", dir, "--epochs", "1", "--batch", "4", "--val-split", "0.2", "--seed", "5",
			"--threads", "2", "--checkpoint-dir", runs)
		wantIn(t, "train", out, "image folder "+dir+": 10×12×1, 3 classes (2 sizes, 1 resized to 10×12; 1 other files ignored; 0.2 of each class held out for testing, seed 5)",
			"on 16 images, testing on 3")
		ck := filepath.Join(runs, "last.safetensors")
		st, err := checkpoint.Load(ck)
		if err != nil {
			t.Fatal(err)
		}
		if r := st.Run; r.ValSplit != 0.2 || r.SplitSeed != 5 || r.SplitTest != 3 || r.Format != data.FormatFolder {
			t.Errorf("checkpoint's split record %+v", r)
		}
		out = mustRun(t, "eval", "--checkpoint", ck, "--json")
		var r evalResult
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.Images != 3 || r.PerClass[2].Name != "emu" || r.PerClass[0].Images != 1 {
			t.Errorf("eval --json: %v: %s", err, out)
		}
		pic := filepath.Join(t.TempDir(), "emu.gif")
		testutil.WriteImage(t, pic, testutil.ClassImage(2, 3, 30, 30, true))
		out = mustRun(t, "predict", "--checkpoint", ck, "--json", pic)
		var ps []prediction
		if err := json.Unmarshal([]byte(out), &ps); err != nil || len(ps) != 1 || ps[0].Class == nil || ps[0].Label != animals[*ps[0].Class] || len(ps[0].Top) != 3 {
			t.Errorf("predict --json: %v: %s", err, out)
		}
		// compare: the same split, class names on the confusion matrices.
		rep := t.TempDir()
		out = mustRun(t, "compare", "--data", dir, "--models", "resnet", "--epochs", "1", "--batch", "8",
			"--val-split", "0.2", "--seed", "5", "--threads", "2", "--out", rep)
		wantIn(t, "compare", out, "Data: image folder", "on 16 training images, testing on 3")
		md, err := os.ReadFile(filepath.Join(rep, "report.md"))
		if err != nil {
			t.Fatal(err)
		}
		wantIn(t, "report.md", string(md), "10×12×1, 3 classes")
	})
	t.Run("colour folder to grey, resized", func(t *testing.T) {
		dir := t.TempDir()
		writeFolder(t, filepath.Join(dir, "train"), animals, 5, 24, 24, true, ".jpg")
		writeFolder(t, filepath.Join(dir, "test"), animals, 1, 24, 24, true, ".png")
		runs := t.TempDir()
		out := mustRun(t, "train", "--data", dir, "--model", "vgg16-reduced", "--channels", "1", "--image-size", "16x20",
			"--epochs", "1", "--batch", "8", "--threads", "2", "--checkpoint-dir", runs)
		wantIn(t, "train", out, "16×20×1, 3 classes", "on 15 images, testing on 3")
		ck := filepath.Join(runs, "last.safetensors")
		out = mustRun(t, "eval", "--checkpoint", ck, "--data", dir)
		wantIn(t, "eval", out, "of 3 images)", "cat        0", "Confusion matrix")
		pic := filepath.Join(t.TempDir(), "dog.png")
		testutil.WriteImage(t, pic, testutil.ClassImage(1, 0, 24, 24, true))
		out = mustRun(t, "predict", "--checkpoint", ck, pic)
		wantIn(t, "predict", out, "cat (0) ", "dog (1) ", "emu (2) ")
		out = mustRun(t, "summary", "--data", dir, "--image-size", "16x20", "--model", "resnet")
		wantIn(t, "summary", out, "(None, 16, 20, 3)", "(None, 3)")
		out = mustRun(t, "bench", "--data", dir, "--steps", "2", "--warmup", "1", "--batch", "4", "--threads", "2")
		wantIn(t, "bench", out, "data wait", "24×24×3 images")
	})
}

// Bad data gives one clear line and exit status 2, never a panic.
func TestOwnImagesErrorsCLI(t *testing.T) {
	dir := t.TempDir()
	writeFolder(t, filepath.Join(dir, "train"), []string{"a", "b"}, 2, 8, 8, false, ".png")
	writeFolder(t, filepath.Join(dir, "test"), []string{"a", "b"}, 1, 8, 8, false, ".png")
	bad := filepath.Join(dir, "train", "b", "zz.png")
	testutil.WriteFile(t, bad, []byte("\x89PNG\r\n\x1a\n broken"))
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--data", dir}, bad},
		{[]string{"train", "--data", empty}, "no data set found: looked for MNIST's IDX files"},
		{[]string{"train", "--data", dir, "--format", "tiff"}, "--format must be one of idx, cifar10, cifar100, folder"},
		{[]string{"train", "--data", dir, "--channels", "2"}, "--channels must be 1 or 3"},
		{[]string{"train", "--data", dir, "--image-size", "0x5"}, "--image-size must be HxW"},
		{[]string{"train", "--data", dir, "--val-split", "1"}, "--val-split must be"},
		{[]string{"train", "--data", dir, "--format", "cifar10"}, data.CIFAR10TrainFiles[0]},
		{[]string{"summary", "--data", empty}, "no data set found"},
	} {
		code, stdout, stderr := ckRun(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 || stdout != "" && !strings.HasPrefix(stdout, "Data") {
			t.Errorf("resgo %s: exit %d, stderr %q: want 2 and one line with %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
	out := mustRun(t, "train", "--data", dir, "--skip-bad", "--epochs", "1", "--batch", "4", "--threads", "1")
	wantIn(t, "train --skip-bad", out, "1 bad files skipped", "on 4 images")
	if _, err := os.Stat(bad); err != nil {
		t.Error("the bad file was removed")
	}
}
