package models

import (
	"math/rand/v2"
	"strings"
	"testing"

	"resgo/autograd"
	"resgo/nn"
	"resgo/tensor"
)

func TestResNetParamCount(t *testing.T) {
	m, err := New("resnet", Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	tr, non := CountParams(m)
	if tr != 576282 || non != 784 {
		t.Fatalf("resnet params: trainable %d non-trainable %d, want 576282 and 784", tr, non)
	}
	seen := map[string]bool{}
	for _, p := range m.Params() {
		if seen[p.Name] {
			t.Fatalf("duplicate parameter name %s", p.Name)
		}
		seen[p.Name] = true
	}
}

func TestUnknownModel(t *testing.T) {
	if _, err := New("nope", Options{}); err == nil {
		t.Fatal("want an error for an unknown model")
	}
}

// clashing is a model whose two convolutions share a parameter name, so
// that Adam would give them one set of moments.
type clashing struct{ nn.Sequential }

// TestNewChecksParams checks that New builds a model's lazily sized layers
// (Params is complete on return) and refuses one whose parameter names
// clash, naming the parameter.
func TestNewChecksParams(t *testing.T) {
	const name = "test-clash"
	registry[name] = entry{func(o Options) (Model, error) {
		rng := rand.New(rand.NewPCG(o.Seed, 1))
		return clashing{nn.Sequential{
			nn.NewConv2D(rng, "conv", 4, 3, autograd.Same, nn.ReLU),
			nn.NewConv2D(rng, "conv", 4, 3, autograd.Same, nn.ReLU),
		}}, nil
	}, "two layers named conv"}
	defer delete(registry, name)
	_, err := New(name, Options{})
	if err == nil || !strings.Contains(err.Error(), `model test-clash: two parameters are named "conv.kernel"`) {
		t.Fatalf("New of a model with clashing names: %v", err)
	}

	m, err := New("resnet", Options{Height: 12, Width: 20, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	ps := m.Params()
	if len(ps) == 0 || ps[0].Name != "conv1.kernel" || !tensor.SameShape(ps[0].Value.Shape, []int{3, 3, 3, 8}) {
		t.Fatalf("resnet's first parameter after New: %v", ps[0])
	}
}
