package serve

import (
	"net/http/httptest"
	"testing"
)

// TestServeONNX: an ONNX file serves as a checkpoint does (resgo.Load
// tells it apart by content): PyTorch's export of the reference ResNet
// answers :classify with ten probabilities.
func TestServeONNX(t *testing.T) {
	s, err := New(Config{}, []ModelSpec{{Name: "torch", Path: "../onnx/testdata/torch-resnet.onnx"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	code, v := call(t, "POST", ts.URL+"/v1/models/torch:classify", "image/png", readDigit(t, "seven.png"))
	if code != 200 || v["model_name"] != "torch" {
		t.Fatalf("classify: %d %v", code, v)
	}
	ps, _ := v["probabilities"].([]any)
	sum := 0.0
	for _, p := range ps {
		sum += p.(float64)
	}
	if len(ps) != 10 || sum < 0.999 || sum > 1.001 {
		t.Errorf("probabilities %v", ps)
	}
}
