package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSummaryInput checks summary's --input: the network sized for the
// shape given, and exit 2 with a message for a malformed shape or one too
// small for the network. resnet on 32×32×3: conv1 has 3·3·3·8 + 8 = 224
// values, and dense1 (32/4)²·64·128 + 128 = 524,416.
func TestSummaryInput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"summary", "--model", "resnet", "--input", "32x32x3"}, &stdout, &stderr); code != 0 {
		t.Fatalf("summary --input 32x32x3: exit %d: %s", code, stderr.String())
	}
	for _, w := range []string{"(None, 32, 32, 3)", "conv1 (Conv2D+ReLU)", " 224 ", "(None, 4096)", "524,416"} {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("summary --input 32x32x3 lacks %q:\n%s", w, stdout.String())
		}
	}
	for input, want := range map[string]string{
		"28x28":    `--input "28x28" is not a shape HxWxC`,
		"0x28x1":   `--input "0x28x1" is not a shape HxWxC`,
		"28x28x1x": `is not a shape HxWxC`,
		"16x16x1":  "block5's max-pool would get 1×1 feature maps",
	} {
		stdout.Reset()
		stderr.Reset()
		if code := run([]string{"summary", "--model", "vgg16", "--input", input}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), want) {
			t.Errorf("summary --input %s: exit %d, stderr %q; want 2 and %q", input, code, stderr.String(), want)
		}
	}
}
