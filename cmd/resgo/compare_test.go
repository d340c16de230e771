package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"resgo/checkpoint"
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
	for _, want := range []string{"resnet", "vgg16-reduced", "final test acc", "Wrote 9 files to " + dir} {
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
	wantHead := "epoch,model,seed,train_loss,train_accuracy,test_loss,test_accuracy,seconds"
	if got := strings.Join(rows[0], ","); got != wantHead {
		t.Fatalf("history.csv header %q, want %q", got, wantHead)
	}
	if len(rows) != 1+2*len(models) {
		t.Fatalf("history.csv has %d rows, want a header and %d", len(rows), 2*len(models))
	}
	for i, row := range rows[1:] {
		if row[0] != strconv.Itoa(i%2+1) || row[1] != models[i/2] || row[2] != "1" {
			t.Errorf("row %d starts %q, %q, %q", i+1, row[0], row[1], row[2])
		}
		for j, v := range row[3:] {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x < 0 || (strings.HasSuffix(rows[0][j+3], "accuracy") && x > 1) {
				t.Errorf("row %d, %s = %q", i+1, rows[0][j+3], v)
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
		{"--seeds", "1,x"},
		{"--seeds", "1,,2"},
		{"--seeds", "2,2"},
		{"--seeds", "-1"},
		{"--seed", "3", "--seeds", "1,2"},
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

// TestCompareSeeds runs compare with two seeds on a handful of images and
// checks that every model trained once per seed and that the report, the
// CSVs and the charts carry the mean and the range over the seeds.
func TestCompareSeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two models twice")
	}
	dir := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	args := []string{"compare", "--models", "vgg16-reduced,resnet", "--epochs", "2", "--seeds", "7,3",
		"--train-limit", "96", "--test-limit", "64", "--out", dir}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"seeds 7,3,", "vgg16-reduced/7", "vgg16-reduced/3", "resnet/7", "resnet/3", "Wrote 9 files"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# vgg16-reduced vs resnet on MNIST", "once per seed (7 and 3)", "| vgg16-reduced | 474,618 |", "shaded band"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	readCSV := func(name string) [][]string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return rows
	}
	hist := readCSV("history.csv")
	if len(hist) != 1+2*2*2 {
		t.Fatalf("history.csv has %d rows, want a header and 8 (2 models × 2 seeds × 2 epochs)", len(hist))
	}
	seen := map[string]bool{}
	for _, row := range hist[1:] {
		seen[row[1]+"/"+row[2]] = true
	}
	if len(seen) != 4 {
		t.Errorf("history.csv covers %v, want each model under seeds 7 and 3", seen)
	}
	sum := readCSV("summary.csv")
	if len(sum) != 1+2*2 || strings.Join(sum[0], ",") != strings.Join(report.SummaryHeader, ",") {
		t.Fatalf("summary.csv: %d rows, header %v", len(sum), sum[0])
	}
	for _, row := range sum[1:] {
		if row[2] != "2" {
			t.Errorf("summary.csv row %v: %s seeds, want 2", row[:3], row[2])
		}
		lo, _ := strconv.ParseFloat(row[3+3*3+1], 64) // test_accuracy_min
		mean, _ := strconv.ParseFloat(row[3+3*3], 64)
		hi, _ := strconv.ParseFloat(row[3+3*3+2], 64)
		if !(lo <= mean && mean <= hi) {
			t.Errorf("summary.csv row %v: test accuracy mean %v outside [%v, %v]", row[:3], mean, lo, hi)
		}
	}
	testutil.CheckPNG(t, "accuracy.png", must(os.ReadFile(filepath.Join(dir, "accuracy.png"))), report.CurvesSize.X, report.CurvesSize.Y)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCompareNeverOverwrites checks that compare locks its report folder
// as train locks its checkpoint folder: a folder locked by another run
// (a train or a compare) is refused naming its process, a folder holding
// another comparison's report is refused and left byte for byte, and
// --overwrite replaces that report, deleting its files.
func TestCompareNeverOverwrites(t *testing.T) {
	args := func(dir string, more ...string) []string {
		return append([]string{"compare", "--models", "vgg16-reduced", "--epochs", "1", "--train-limit", "64", "--test-limit", "32", "--out", dir}, more...)
	}
	locked := t.TempDir()
	l, err := checkpoint.LockDir(locked)
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := ckRun(args(locked)...)
	l.Unlock()
	if code != exitUsage || stdout != "" {
		t.Errorf("compare into a locked folder: exit %d, stdout %q", code, stdout)
	}
	checkOneLineError(t, "locked", stderr, "compare: report folder "+locked+" is in use by another resgo run (process "+strconv.Itoa(os.Getpid()), "choose another --out")
	if ents, _ := os.ReadDir(locked); len(ents) != 0 {
		t.Errorf("the refused compare left %v", ents)
	}

	held := t.TempDir()
	old := map[string][]byte{"report.md": []byte("# resnet vs vgg16\n"), "history.csv": []byte("epoch\n"), report.ConfusionFile("resnet"): []byte("png")}
	for n, b := range old {
		if err := os.WriteFile(filepath.Join(held, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr = ckRun(args(held)...)
	if code != exitUsage || stdout != "" {
		t.Errorf("compare into a report's folder: exit %d, stdout %q", code, stdout)
	}
	checkOneLineError(t, "held", stderr, "compare: "+held+" already holds a comparison's report (report.md, history.csv, confusion-resnet.png)", "--overwrite")
	if ents, _ := os.ReadDir(held); len(ents) != len(old) {
		t.Errorf("%s holds %d files after the refused compare, want %d", held, len(ents), len(old))
	}
	for n, b := range old {
		if now, err := os.ReadFile(filepath.Join(held, n)); !bytes.Equal(now, b) {
			t.Errorf("%s changed: %q, %v", n, now, err)
		}
	}
	if testing.Short() {
		return
	}
	if code, stdout, stderr := ckRun(args(held, "--overwrite")...); code != exitOK {
		t.Fatalf("--overwrite: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(held, report.ConfusionFile("resnet"))); err == nil {
		t.Error("--overwrite left the old report's confusion-resnet.png")
	}
	if md := must(os.ReadFile(filepath.Join(held, "report.md"))); !bytes.Contains(md, []byte("vgg16-reduced")) {
		t.Errorf("report.md after --overwrite:\n%s", md)
	}
}
