package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"resgo/internal/testutil"
	"resgo/report"
)

// TestCompareWritesEverything runs compare on a small subset (two models,
// two epochs, 300 training and 100 test images) and checks that every file
// is written and parses: the CSV's columns and rows, each PNG's size, each
// SVG as XML.
func TestCompareWritesEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two models")
	}
	dir := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	args := []string{"compare", "--models", "resnet,vgg16-reduced", "--epochs", "2",
		"--train-limit", "300", "--test-limit", "100", "--out", dir}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	t.Logf("\n%s", stdout.String())
	for _, want := range []string{"resnet", "vgg16-reduced", "final test acc", "Wrote 8 files to " + dir} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	models := []string{"resnet", "vgg16-reduced"}
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
		return b
	}

	md := string(read("report.md"))
	for _, want := range []string{"# resnet vs vgg16-reduced on MNIST", "| resnet | 577,066 | 19.7 M |",
		"| vgg16-reduced | 474,618 | 7.74 M |", "## Reading the result", "(accuracy.png)", "(confusion-resnet.png)",
		"resgo compare --models resnet,vgg16-reduced"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}

	rows, err := csv.NewReader(bytes.NewReader(read("history.csv"))).ReadAll()
	if err != nil {
		t.Fatalf("history.csv: %v", err)
	}
	wantHead := "epoch,model,train_loss,train_accuracy,test_loss,test_accuracy,seconds"
	if got := strings.Join(rows[0], ","); got != wantHead {
		t.Fatalf("history.csv header %q, want %q", got, wantHead)
	}
	if len(rows) != 1+2*len(models) {
		t.Fatalf("history.csv has %d rows, want a header and %d", len(rows), 2*len(models))
	}
	for i, row := range rows[1:] {
		if row[0] != strconv.Itoa(i%2+1) || row[1] != models[i/2] {
			t.Errorf("row %d starts %q, %q", i+1, row[0], row[1])
		}
		for j, v := range row[2:] {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x < 0 || (strings.HasSuffix(rows[0][j+2], "accuracy") && x > 1) {
				t.Errorf("row %d, %s = %q", i+1, rows[0][j+2], v)
			}
		}
	}

	pngs := map[string][2]int{"accuracy.png": {report.CurvesSize.X, report.CurvesSize.Y}, "loss.png": {report.CurvesSize.X, report.CurvesSize.Y}}
	for _, m := range models {
		pngs["confusion-"+m+".png"] = [2]int{report.ConfusionSize.X, report.ConfusionSize.Y}
	}
	for name, size := range pngs {
		testutil.CheckPNG(t, name, read(name), size[0], size[1])
	}
	for _, name := range []string{"accuracy.svg", "loss.svg"} {
		testutil.CheckSVG(t, name, read(name), 10)
	}
}

func TestCompareFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--models", "nope"},
		{"--models", ""},
		{"--models", "resnet,resnet"},
		{"--bn-momentum", "1"},
		{"--epochs", "-1"},
		{"--width", "-2"},
		{"--train-limit", "70000"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"compare"}, args...), &stdout, &stderr); code != 2 {
			t.Errorf("compare %v: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}

func TestSummaryCommand(t *testing.T) {
	for model, want := range map[string][]string{
		"resnet":        {"Trainable params: 576,282", "Non-trainable params: 784", "Multiply-adds per image: 19,726,720"},
		"vgg16":         {"Total params: 2,112,442", "Non-trainable params: 0", "pad2d (Pad2D)", "(None, 32, 32, 1)"},
		"vgg16-reduced": {"Total params: 474,618", "flatten (Flatten)", "(None, 3136)"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"summary", "--model", model}, &stdout, &stderr); code != 0 {
			t.Fatalf("summary --model %s: exit %d: %s", model, code, stderr.String())
		}
		for _, w := range want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("summary --model %s lacks %q:\n%s", model, w, stdout.String())
			}
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"summary", "--model", "nope"}, &stdout, &stderr); code != 2 {
		t.Errorf("summary --model nope: exit %d, want 2", code)
	}
}

// TestHelpPrintedOnce checks that --help prints the usage once, exit 0.
func TestHelpPrintedOnce(t *testing.T) {
	for _, cmd := range []string{"compare", "summary"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{cmd, "--help"}, &stdout, &stderr); code != 0 {
			t.Errorf("%s --help: exit %d", cmd, code)
		}
		if n := strings.Count(stdout.String(), "Usage: resgo "+cmd); n != 1 {
			t.Errorf("%s --help printed the usage %d times", cmd, n)
		}
	}
}
