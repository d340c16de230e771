package checkpoint_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"resgo/autograd"
	"resgo/checkpoint"
	"resgo/models"
	"resgo/nn"
	"resgo/train"
)

// microModel is a network small enough to fuzz whole checkpoints of
// (580 parameters), with every kind of state: a conv, BatchNorm's moving
// statistics and a dense layer.
const microModel = "checkpoint-fuzz-micro"

func init() {
	models.Register(microModel, "a micro test network for fuzzing checkpoints", func(o models.Options) (models.Model, error) {
		rng := rand.New(rand.NewPCG(o.Seed, 1))
		return nn.Sequential{
			nn.NewConv2D(rng, "conv", 1, 3, autograd.Same, nn.Linear),
			nn.NewBatchNorm("bn"),
			nn.MaxPool2D{}, nn.MaxPool2D{}, nn.Flatten{},
			nn.NewDense(rng, "dense", o.Classes, nn.Linear),
		}, nil
	})
}

// microCheckpoint returns a checkpoint of the micro model after one
// epoch of Adam on 32 images, as a file's bytes.
func microCheckpoint(t testing.TB) []byte {
	tr, te := limited(t, 32, 16)
	s, err := train.NewSession(train.Config{Model: microModel, Epochs: 1, Batch: 16, LR: 0.01, Seed: 3, Shuffle: 100, Train: tr, Test: te})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "micro.safetensors")
	if err := checkpoint.Save(path, s.Checkpoint()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// FuzzFromFile reads arbitrary files as checkpoints, metadata and all: it
// must never panic or build an outsized model, must name the file in
// every error, and whatever it accepts must be whole (no NaN, a model of
// the right shapes) and save and load back the same.
func FuzzFromFile(f *testing.F) {
	f.Add(microCheckpoint(f))
	f.Fuzz(func(t *testing.T, in []byte) {
		file, err := checkpoint.Decode("fuzz", in)
		if err != nil {
			return // FuzzDecode's business
		}
		st, err := checkpoint.FromFile("fuzz", file)
		if err != nil {
			var ce *checkpoint.Error
			if !errors.As(err, &ce) || ce.File != "fuzz" {
				t.Fatalf("error %v is not an *Error naming the file", err)
			}
			return
		}
		if st.Net == nil || st.Epoch != len(st.History) || st.Step != st.Optimizer.Step {
			t.Fatalf("accepted an inconsistent state: epoch %d, %d history entries, step %d/%d", st.Epoch, len(st.History), st.Step, st.Optimizer.Step)
		}
		for _, p := range st.Net.Params() {
			for _, v := range p.Value.Data {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("accepted %v in %s", v, p.Name)
				}
			}
		}
		// Save's tensors and metadata, encoded in memory (no disk, whose
		// syncs would slow the fuzzer to a crawl), must read back the same.
		ts, meta, err := st.Parts()
		if err != nil {
			t.Fatalf("saving what was accepted: %v", err)
		}
		var buf bytes.Buffer
		if err := checkpoint.Encode(&buf, ts, meta); err != nil {
			t.Fatalf("encoding what was accepted: %v", err)
		}
		file2, err := checkpoint.Decode("again", buf.Bytes())
		if err != nil {
			t.Fatalf("decoding what was saved: %v", err)
		}
		again, err := checkpoint.FromFile("again", file2)
		if err != nil {
			t.Fatalf("loading what was saved: %v", err)
		}
		a, b := st.Net.Params(), again.Net.Params()
		for i := range a {
			for j := range a[i].Value.Data {
				if math.Float32bits(a[i].Value.Data[j]) != math.Float32bits(b[i].Value.Data[j]) {
					t.Fatalf("%s changed on the way back", a[i].Name)
				}
			}
		}
		if again.Epoch != st.Epoch || again.Step != st.Step || again.Model != st.Model || len(again.Slots) != len(st.Slots) {
			t.Fatalf("the metadata changed on the way back")
		}
	})
}

// TestLoadForged checks that a checkpoint whose metadata asks for an
// outsized model or impossible settings, or whose tensors hold NaN or an
// infinity, is refused before anything large is built, with an error
// naming the file and the problem.
func TestLoadForged(t *testing.T) {
	good := microCheckpoint(t)
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		edit func(f *checkpoint.File)
		want string
	}{
		{"width", func(f *checkpoint.File) { f.Metadata["model_options"] = `{"Seed":3,"Width":1000}` }, "width multiplier 1000 is out of range"},
		{"image size", func(f *checkpoint.File) { f.Metadata["model_options"] = `{"Seed":3,"ImageWidth":100000}` }, "image size 0×100000 is out of range"},
		{"classes", func(f *checkpoint.File) { f.Metadata["model_options"] = `{"Seed":3,"Classes":1000000000}` }, "1000000000 classes is out of range"},
		{"momentum", func(f *checkpoint.File) { f.Metadata["model_options"] = `{"Seed":3,"BNMomentum":7}` }, "BatchNorm momentum 7 is out of range"},
		{"learning rate", func(f *checkpoint.File) {
			f.Metadata["optimizer"] = strings.Replace(f.Metadata["optimizer"], `"lr":0.01`, `"lr":-1`, 1)
		},
			"the learning rate is -1"},
		{"eval batch", func(f *checkpoint.File) {
			f.Metadata["run"] = regexp.MustCompile(`"eval_batch":\d+`).ReplaceAllString(f.Metadata["run"], `"eval_batch":-5`)
		},
			"run settings with a negative count"},
		{"preparation", func(f *checkpoint.File) {
			f.Metadata["run"] = strings.Replace(f.Metadata["run"], `{`, `{"prepare":"sharpen",`, 1)
		},
			`the pictures' preparation is "sharpen", want "digits" or "pixels"`},
		{"NaN weight", func(f *checkpoint.File) { f.Tensor("dense.kernel").Data[7] = float32(math.NaN()) },
			`tensor "dense.kernel" holds NaN at index 7: the run that saved it had diverged`},
		{"Inf slot", func(f *checkpoint.File) { f.Tensor("optimizer.dense.kernel.v").Data[0] = float32(math.Inf(-1)) },
			`tensor "optimizer.dense.kernel.v" holds -Inf at index 0`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := checkpoint.Decode("good", good)
			if err != nil {
				t.Fatal(err)
			}
			c.edit(f)
			path := filepath.Join(dir, c.name+".safetensors")
			if err := checkpoint.WriteFile(path, f.Tensors, f.Metadata); err != nil {
				t.Fatal(err)
			}
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = checkpoint.Load(path)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			var ce *checkpoint.Error
			if !errors.As(err, &ce) || ce.File != path || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load = %v\nwant an *Error for %s with %q", err, path, c.want)
			}
			if a := after.TotalAlloc - before.TotalAlloc; a > 16<<20 {
				t.Errorf("Load allocated %d MiB before refusing", a>>20)
			}
		})
	}
	// And Save refuses to write a state holding NaN.
	f, _ := checkpoint.Decode("good", good)
	st, err := checkpoint.FromFile("good", f)
	if err != nil {
		t.Fatal(err)
	}
	st.Net.Params()[0].Value.Data[0] = float32(math.NaN())
	path := filepath.Join(dir, "nan.safetensors")
	if err := checkpoint.Save(path, st); err == nil || !strings.Contains(err.Error(), "a diverged state is never saved") {
		t.Fatalf("Save of a NaN state = %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Save of a NaN state wrote %s", path)
	}
}
