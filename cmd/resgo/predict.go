package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"

	"resgo"
	"resgo/compute"
	"resgo/imageprep"
)

func init() {
	register(&command{name: "predict", summary: "classify pictures (digits, or the classes of your own images) with a saved model", run: runPredict})
	allowsArgs["predict"] = true
}

const predictSynopsis = `
Usage: resgo predict --checkpoint FILE [--json] [--top K] IMAGE...

Classifies each IMAGE (PNG, JPEG or GIF, of any size) with the model saved
in FILE, and prints the --top most probable classes with their
probabilities, by name and index:

  seven.png: 7 99.91%   3 0.05%   2 0.02%
  cat.jpg:  cat (3) 97.10%  dog (5) 2.31%  deer (4) 0.22%

For a model of MNIST's digits (trained on the embedded MNIST, or on IDX files
holding MNIST's images), each image (dark-on-light or light-on-dark) is
prepared as MNIST's digits were: grey levels, white digit on black, cropped
to the digit, scaled to fit 20×20 keeping its aspect ratio and centred by
centre of mass in 28×28 (see package resgo/imageprep). For any other model
(Fashion-MNIST's, say) it is prepared as its training pictures were: converted to the model's channels
(grey or RGB) and resized to its height and width.

An IMAGE that cannot be used (not a picture, too large, blank, a folder or
a device) gets one line on stderr naming it and the problem; every other
IMAGE is still classified and printed, and predict then exits with status 2.
With --json such an IMAGE is an entry with "error" instead of "class".`

// prediction is what predict prints for one image with --json: its
// classes, or the error that kept it from being classified.
type prediction struct {
	File          string       `json:"file"`
	Class         *int         `json:"class,omitempty"`
	Label         string       `json:"label,omitempty"`
	Top           []classProba `json:"top,omitempty"`
	Probabilities []float32    `json:"probabilities,omitempty"`
	Error         string       `json:"error,omitempty"`
}

type classProba struct {
	Class       int     `json:"class"`
	Label       string  `json:"label"`
	Probability float32 `json:"probability"`
}

func runPredict(args []string, stdout, stderr io.Writer) error {
	var (
		path    string
		asJSON  bool
		top     int
		threads int
	)
	fs := newFlags("predict", predictSynopsis, stdout)
	fs.StringVar(&path, "checkpoint", "", "the checkpoint `FILE` of the model (required)")
	fs.BoolVar(&asJSON, "json", false, "print the predictions as JSON")
	fs.IntVar(&top, "top", 3, "print the `K` most probable classes")
	fs.IntVar(&threads, "threads", runtime.NumCPU(), "worker threads (default: all cores)")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	switch {
	case path == "":
		return badFlag("predict", "--checkpoint FILE is required")
	case len(files) == 0:
		return badFlag("predict", "no IMAGE to classify")
	case top < 1:
		return badFlag("predict", "--top must be at least 1, got %d", top)
	case threads < 1 || threads > maxThreads:
		return badFlag("predict", "--threads must be 1 to %d, got %d", maxThreads, threads)
	}
	compute.SetThreads(threads)
	m, err := resgo.Load(path)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	notice(stderr, m.Info().Notice)
	px := m.Info().Height * m.Info().Width * m.Info().Channels
	// Each file is read and prepared on its own: a bad one is reported
	// and the others are still classified.
	pixels := make([]float32, 0, len(files)*px)
	errs := make([]error, len(files))
	var good []int
	for i, name := range files {
		img, err := imageprep.DecodeFile(name)
		if err == nil {
			var prep []float32
			if prep, err = m.Prepare(img); err == nil {
				pixels = append(pixels, prep...)
			} else {
				err = fmt.Errorf("%s: %v", name, err)
			}
		}
		if err != nil {
			errs[i] = err
			continue
		}
		good = append(good, i)
	}
	out := make([]prediction, len(files))
	if len(good) > 0 {
		preds, err := m.PredictPixels(pixels)
		if err != nil {
			return err
		}
		for j, p := range preds {
			i := good[j]
			out[i] = prediction{File: files[i], Class: &p.Class, Label: p.Label, Probabilities: p.Probabilities}
			for _, c := range p.Top(top) {
				out[i].Top = append(out[i].Top, classProba{c, m.Info().ClassNames[c], p.Probabilities[c]})
			}
		}
	}
	failed := 0
	for i, err := range errs {
		if err != nil {
			out[i] = prediction{File: files[i], Error: err.Error()}
			failed++
		}
	}
	if asJSON {
		for _, p := range out {
			if p.Error != "" {
				fmt.Fprintf(stderr, "resgo: %s\n", p.Error)
			}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		for _, p := range out {
			if p.Error != "" {
				fmt.Fprintf(stderr, "resgo: %s\n", p.Error)
				continue
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%s:", p.File)
			for _, t := range p.Top {
				if t.Label == strconv.Itoa(t.Class) { // MNIST's digits
					fmt.Fprintf(&b, "  %d %s", t.Class, predictPercent(t.Probability))
				} else {
					fmt.Fprintf(&b, "  %s (%d) %s", t.Label, t.Class, predictPercent(t.Probability))
				}
			}
			fmt.Fprintln(stdout, b.String())
		}
	}
	if failed > 0 {
		return &exitError{code: 2, err: errors.New("")} // each failure has had its line
	}
	return nil
}

// predictPercent formats a probability in percent with two decimals, or as
// "<0.01%" or ">99.99%" where rounding would hide that it is not 0 or 1.
func predictPercent(p float32) string {
	if p > 0 && p < 0.00005 {
		return "<0.01%"
	}
	if p < 1 && p >= 0.99995 {
		return ">99.99%"
	}
	return fmt.Sprintf("%.2f%%", 100*p)
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, and returns the positional arguments ("--" ends
// the flags).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse stops at the first non-flag, or after "--".
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
