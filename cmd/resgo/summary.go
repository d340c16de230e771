package main

import (
	"fmt"
	"io"
	"strings"

	"resgo/models"
)

func init() {
	register(&command{name: "summary", summary: "print a model's layers, parameters and multiply-adds (like Keras's summary)", run: runSummary})
}

const summarySynopsis = `
Usage: resgo summary [--model NAME] [--width W] [--input HxWxC | --data PATH]
       resgo summary --checkpoint FILE

Prints a table like Keras's model.summary(): every layer of the model in the
order its forward pass runs them, with the output shape, the number of
parameters and the multiply-adds for one image (28×28×1 unless --input
gives another shape, such as 32x32x3, or --data the shape and classes of
a data set's images), then the totals:
trainable and non-trainable parameters (BatchNorm's moving statistics) and
multiply-adds per image. --checkpoint describes the model saved in FILE, a
checkpoint or an ONNX file (as resgo runs it: with BatchNorms folded into
the convolutions before them).

A ReLU applied straight to a layer's output is shown as part of it
(Conv2D+ReLU). Multiply-adds count convolutions and dense layers only.`

func runSummary(args []string, stdout, _ io.Writer) error {
	classes := 0
	fs := newFlags("summary", summarySynopsis, stdout)
	model := fs.String("model", "resnet", "model to describe: "+strings.Join(models.Names(), ", "))
	width := fs.Float64("width", 0, "width multiplier for VGG models (0: the model's default, 0.25)")
	input := fs.String("input", "28x28x1", "one image's shape, HxWxC")
	ckpt := fs.String("checkpoint", "", "describe the model in `FILE` instead, a checkpoint or an ONNX file")
	var df dataFlags
	df.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *ckpt != "" {
		st, err := loadModel(*ckpt)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		s, err := models.Summarize(*ckpt, st.Net, st.Options.InputShape())
		if err != nil {
			return err
		}
		return s.WriteTable(stdout)
	}
	if df.dataDir != "" {
		tr, _, err := df.open("summary")
		if err != nil {
			return err
		}
		*input = fmt.Sprintf("%dx%dx%d", tr.H, tr.W, tr.Channels())
		classes = len(tr.Classes)
		df.announce(stdout, tr)
	}
	if !(*width >= 0) {
		return badFlag("summary", "--width must be positive, got %v", *width)
	}
	o := models.Options{Seed: 1, WidthMultiplier: *width, Classes: classes}
	if _, err := fmt.Sscanf(strings.ReplaceAll(*input, "×", "x")+"\n", "%dx%dx%d\n", &o.Height, &o.Width, &o.Channels); err != nil ||
		o.Height < 1 || o.Width < 1 || o.Channels < 1 {
		return badFlag("summary", "--input %q is not a shape HxWxC such as 28x28x1", *input)
	}
	m, err := models.New(*model, o)
	if err != nil {
		return badFlag("summary", "%v", err)
	}
	if err := checkWidth("summary", *model, *width); err != nil {
		return err
	}
	s, err := models.Summarize(*model, m, o.InputShape())
	if err != nil {
		return err
	}
	return s.WriteTable(stdout)
}
