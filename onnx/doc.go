// Package onnx moves networks between resgo and ONNX, the format that
// onnxruntime, OpenVINO, browsers and phones run: Export writes any
// registered model in inference mode, and Load reads an ONNX CNN that
// another framework exported and runs it on resgo's kernels, in pure Go.
// docs/onnx.md lists the versions, the supported ops and attributes and
// how activations and weights are laid out on each side.
package onnx
