package resgo

import (
	"fmt"
	"strconv"

	"resgo/autograd"
	"resgo/checkpoint"
	"resgo/compute"
	"resgo/imageprep"
	"resgo/onnx"
)

// loadONNX is Load for an ONNX file (told apart by content: onnx.Sniff):
// a CNN another framework exported, with input [N, 1, 28, 28] as MNIST's
// digits (pixel/255, white on black) and logits (or, stripped at load,
// softmax) as its first output, run on resgo's kernels.
func loadONNX(path string) (*Model, error) {
	om, err := onnx.Load(path)
	if err != nil {
		return nil, err
	}
	if in := om.Input; in[0] != imageprep.Size || in[1] != imageprep.Size || in[2] != 1 {
		return nil, fmt.Errorf("onnx %s: input %d×%d×%d (H×W×C); resgo predicts 28×28 grey digits", path, in[0], in[1], in[2])
	}
	tp := autograd.NewTape(compute.Default(), 0)
	tp.NoGrad = true
	// A file resgo exported from a model of other 28×28 grey images (such as
	// Fashion-MNIST's) says so; any other is taken as a digit classifier.
	m := &Model{run: &engine{net: om, tape: tp, shape: om.Input[:3]},
		info: Info{Path: path, Model: "onnx", Height: om.Input[0], Width: om.Input[1], Channels: om.Input[2],
			Digits: om.Metadata["resgo.prepare"] != checkpoint.PreparePixels}}
	// A file resgo exported says what it was (docs/onnx.md).
	if name := om.Metadata["resgo.model"]; name != "" {
		m.info.Model = name
		m.info.Epoch, _ = strconv.Atoi(om.Metadata["resgo.epoch"])
		m.info.Step, _ = strconv.ParseInt(om.Metadata["resgo.step"], 10, 64)
		m.info.TestAccuracy, _ = strconv.ParseFloat(om.Metadata["resgo.test_accuracy"], 64)
	}
	probe, err := m.probabilities(make([]float32, m.inputLen()), 1)
	if err != nil {
		return nil, fmt.Errorf("onnx %s: the model cannot run: %v", path, err)
	}
	m.info.Classes = len(probe)
	if len(om.Classes) == m.info.Classes {
		m.info.ClassNames = om.Classes // metadata_props "classes", as Export writes
	} else {
		for c := range m.info.Classes {
			m.info.ClassNames = append(m.info.ClassNames, strconv.Itoa(c))
		}
	}
	return m, nil
}
