package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	"resgo/checkpoint"
	"resgo/models"
	"resgo/onnx"
)

func init() {
	register(&command{name: "export", summary: "write a saved model as ONNX, for onnxruntime and other runtimes", run: runExport})
}

const exportSynopsis = `
Usage: resgo export --checkpoint FILE -o MODEL.onnx

Writes the model saved in FILE (by 'resgo train --checkpoint-dir') as an ONNX
file in inference mode: input "input" [N, C, H, W] float32 (NCHW, free batch
N; [N, 1, 28, 28] for MNIST, values in [0, 1] as pixels/255), outputs "logits" and
"probabilities". The class names and the checkpoint's model, epoch, step and
test accuracy go into the file's metadata. See docs/onnx.md.`

func runExport(args []string, stdout, stderr io.Writer) error {
	var path, out string
	fs := newFlags("export", exportSynopsis, stdout)
	fs.StringVar(&path, "checkpoint", "", "the checkpoint `FILE` to export (required)")
	fs.StringVar(&out, "o", "", "the ONNX `FILE` to write (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case path == "":
		return badFlag("export", "--checkpoint FILE is required")
	case out == "":
		return badFlag("export", "-o FILE is required")
	}
	st, err := checkpoint.Load(path)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	meta := map[string]string{
		"resgo.model":      st.Model,
		"resgo.epoch":      strconv.Itoa(st.Epoch),
		"resgo.step":       strconv.FormatInt(st.Step, 10),
		"resgo.seed":       strconv.FormatUint(st.Seed, 10),
		"resgo.checkpoint": filepath.Base(path),
		"resgo.input":      "NCHW float32 in [0, 1]: white digit on black, pixel/255, as MNIST's",
	}
	meta["resgo.prepare"] = checkpoint.PrepareDigits
	if !st.Run.Digits() {
		meta["resgo.input"] = "NCHW float32 in [0, 1]: pixel/255, as the training images"
		meta["resgo.prepare"] = checkpoint.PreparePixels
	}
	if st.Options.WidthMultiplier != 0 {
		meta["resgo.width_multiplier"] = strconv.FormatFloat(st.Options.WidthMultiplier, 'g', -1, 64)
	}
	if n := len(st.History); n > 0 {
		meta["resgo.test_accuracy"] = strconv.FormatFloat(st.History[n-1].TestAccuracy, 'g', 6, 64)
	}
	in := st.Options.InputShape() // H, W, C
	o := onnx.ExportOptions{Height: in[0], Width: in[1], Channels: in[2], Classes: st.Classes, Metadata: meta, Name: st.Model}
	if err := onnx.ExportFile(out, st.Net, o); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s, epoch %d)\n", out, st.Model, st.Epoch)
	return nil
}

// loadModel reads a model file for eval and summary: a resgo checkpoint,
// or an ONNX file (told apart by content), which becomes a State holding
// only the network, its input shape and the path.
func loadModel(path string) (*checkpoint.State, error) {
	if !onnx.Sniff(path) {
		return checkpoint.Load(path)
	}
	m, err := onnx.Load(path)
	if err != nil {
		return nil, err
	}
	st := &checkpoint.State{Model: "onnx", Net: m, Path: path, Classes: m.Classes,
		Options: models.Options{Height: m.Input[0], Width: m.Input[1], Channels: m.Input[2]}}
	// A file resgo exported says what it was.
	if name := m.Metadata["resgo.model"]; name != "" {
		st.Model = name
		st.Epoch, _ = strconv.Atoi(m.Metadata["resgo.epoch"])
		st.Step, _ = strconv.ParseInt(m.Metadata["resgo.step"], 10, 64)
	}
	return st, nil
}
