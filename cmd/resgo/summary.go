package main

import (
	"io"
	"strings"

	"resgo/models"
)

func init() {
	register(&command{name: "summary", summary: "print a model's layers, parameters and multiply-adds (like Keras's summary)", run: runSummary})
}

const summarySynopsis = `
Usage: resgo summary [--model NAME] [--width W]

Prints a table like Keras's model.summary(): every layer of the model in the
order its forward pass runs them, with the output shape, the number of
parameters and the multiply-adds for one 28×28 image, then the totals:
trainable and non-trainable parameters (BatchNorm's moving statistics) and
multiply-adds per image.

A ReLU applied straight to a layer's output is shown as part of it
(Conv2D+ReLU). Multiply-adds count convolutions and dense layers only.`

func runSummary(args []string, stdout, _ io.Writer) error {
	fs := newFlags("summary", summarySynopsis, stdout)
	model := fs.String("model", "resnet", "model to describe: "+strings.Join(models.Names(), ", "))
	width := fs.Float64("width", 0, "width multiplier for VGG models (0: the model's default, 0.25)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !(*width >= 0) {
		return badFlag("summary", "--width must be positive, got %v", *width)
	}
	m, err := models.New(*model, models.Options{Seed: 1, Width: *width})
	if err != nil {
		return badFlag("summary", "%v", err)
	}
	s, err := models.Summarize(*model, m, []int{28, 28, 1})
	if err != nil {
		return err
	}
	return s.WriteTable(stdout)
}
