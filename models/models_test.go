package models

import "testing"

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
