package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"resgo/data"
)

// dataFlags say which data set to read and how: the flags train, eval,
// compare, summary and bench share.
type dataFlags struct {
	dataDir   string
	format    string
	channels  int
	imageSize string
	valSplit  float64
	skipBad   bool
	testOnly  bool // read only the test set where the format allows (eval)
	// splitSeed seeds the split of a single class tree: --seed, or the
	// checkpoint's for eval.
	splitSeed uint64
	// src describes what was read, after open.
	src *data.Source
}

func (d *dataFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.dataDir, "data", "", "read the data set at `PATH` instead of the embedded MNIST: MNIST-format IDX files (Fashion-MNIST, KMNIST),\n"+
		"CIFAR-10 or CIFAR-100 binary files (or cifar-10-binary.tar.gz), or an image folder PATH/train/<class>/*, PATH/test/<class>/*\n"+
		"or PATH/<class>/* (PNG, JPEG, GIF); the format is detected")
	fs.StringVar(&d.format, "format", "", "read --data as `FORMAT` instead of detecting it: "+strings.Join(data.Formats, ", "))
	fs.IntVar(&d.channels, "channels", 0, "convert the images to `C` channels: 1 (grey) or 3 (RGB) (0: the data's own)")
	fs.StringVar(&d.imageSize, "image-size", "", "resize the images to `HxW`, such as 32x32 (default: the data's size; an image folder's most common)")
	fs.Float64Var(&d.valSplit, "val-split", data.DefaultValSplit, "the share of each class that a single PATH/<class>/* tree holds out for testing, chosen with --seed")
	fs.BoolVar(&d.skipBad, "skip-bad", false, "skip corrupt or unreadable pictures in an image folder, counting them, instead of stopping")
}

// options checks the flags and returns them as data.Options.
func (d *dataFlags) options(cmd string) (data.Options, error) {
	o := data.Options{Format: d.format, Channels: d.channels, ValSplit: d.valSplit, Seed: d.splitSeed, SkipBad: d.skipBad,
		TestOnly: d.testOnly}
	switch {
	case d.format != "" && !slices.Contains(data.Formats, d.format):
		return o, badFlag(cmd, "--format must be one of %s, got %q", strings.Join(data.Formats, ", "), d.format)
	case d.channels != 0 && d.channels != 1 && d.channels != 3:
		return o, badFlag(cmd, "--channels must be 1 or 3, got %d", d.channels)
	case !(d.valSplit > 0 && d.valSplit < 1):
		return o, badFlag(cmd, "--val-split must be more than 0 and less than 1, got %v", d.valSplit)
	}
	if d.imageSize != "" {
		h, w, err := parseSize(d.imageSize)
		if err != nil {
			return o, badFlag(cmd, "--image-size %v", err)
		}
		o.Height, o.Width = h, w
	}
	return o, nil
}

// parseSize reads "HxW" (or "H×W", or "N" for N×N).
func parseSize(s string) (h, w int, err error) {
	parts := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == 'x' || r == '×' })
	if len(parts) == 1 {
		parts = append(parts, parts[0])
	}
	if len(parts) == 2 {
		h, err1 := strconv.Atoi(parts[0])
		w, err2 := strconv.Atoi(parts[1])
		if err1 == nil && err2 == nil && h >= 1 && w >= 1 && h <= 4096 && w <= 4096 {
			return h, w, nil
		}
	}
	return 0, 0, fmt.Errorf("must be HxW, two sizes from 1 to 4096 such as 32x32, got %q", s)
}

// open reads the data set the flags name.
func (d *dataFlags) open(cmd string) (tr, te *data.Dataset, err error) {
	o, err := d.options(cmd)
	if err != nil {
		return nil, nil, err
	}
	tr, te, d.src, err = data.Open(d.dataDir, o)
	if err != nil {
		return nil, nil, &exitError{code: 2, err: err}
	}
	return tr, te, nil
}

// announce prints the start-up line's account of the data read from
// --data, "Data: ...": its format, shape, classes and what was resized,
// ignored, skipped or held out. The embedded MNIST needs none.
func (d *dataFlags) announce(w io.Writer, tr *data.Dataset) {
	if d.src != nil && d.dataDir != "" {
		fmt.Fprintln(w, "Data: "+d.src.Describe(tr))
	}
}
