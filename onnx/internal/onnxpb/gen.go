// Package onnxpb holds the protobuf types of ONNX's model format, generated
// from onnx.proto (ONNX 1.12, IR version 8) as Debian's python3-onnx ships it.
package onnxpb

//go:generate sh -c "PATH=$(go env GOPATH)/bin:$PATH protoc --proto_path=/usr/lib/python3/dist-packages/onnx --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=resgo/onnx/internal/onnxpb onnx.proto"
// Tools: protoc 3.21.12 (Debian's protobuf-compiler), protoc-gen-go v1.36.12
// (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12), onnx.proto
// from Debian's python3-onnx 1.12.0.
