package checkpoint_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"resgo/autograd"
	"resgo/checkpoint"
	"resgo/compute"
	"resgo/data"
	"resgo/internal/kernels"
	"resgo/internal/testmnist"
	"resgo/models"
	"resgo/nn"
	"resgo/tensor"
	"resgo/train"
)

// tinyModel is a small network with every kind of state a checkpoint must
// carry: conv and dense kernels, BatchNorm's moving statistics, and dropout
// (whose randomness a resumed run must repeat).
const tinyModel = "checkpoint-test-tiny"

func init() {
	models.Register(tinyModel, "a tiny test network with BatchNorm and dropout", func(o models.Options) (models.Model, error) {
		rng := rand.New(rand.NewPCG(o.Seed, 1))
		bn := nn.NewBatchNorm("bn")
		if o.BNMomentum != 0 {
			bn.Momentum = o.BNMomentum
		}
		return nn.Sequential{
			nn.NewConv2D(rng, "conv", 4, 3, autograd.Same, nn.Linear),
			bn,
			nn.MaxPool2D{}, nn.MaxPool2D{}, nn.Flatten{},
			nn.NewDense(rng, "dense1", 32, nn.ReLU),
			nn.Dropout{Rate: 0.5},
			nn.NewDense(rng, "dense2", o.Classes, nn.Linear),
		}, nil
	})
}

func limited(t testing.TB, trainN, testN int) (tr, te *data.Dataset) {
	t.Helper()
	train, test, err := testmnist.Load()
	if err != nil {
		t.Fatal(err)
	}
	tr, err = train.Limit(trainN)
	if err != nil {
		t.Fatal(err)
	}
	te, err = test.Limit(testN)
	if err != nil {
		t.Fatal(err)
	}
	return tr, te
}

func newSession(t testing.TB, model, opt string, epochs, trainN, testN int) *train.Session {
	t.Helper()
	tr, te := limited(t, trainN, testN)
	s, err := train.NewSession(train.Config{Model: model, ModelOptions: models.Options{BNMomentum: 0.9},
		Epochs: epochs, Batch: 16, LR: 0.002, Optimizer: opt, Seed: 7, Shuffle: 100,
		Train: tr, Test: te, Pool: compute.Default()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sameState fails unless a and b hold bit-identical weights, optimiser
// slots, steps and metrics.
func sameState(t *testing.T, a, b *checkpoint.State) {
	t.Helper()
	pa, pb := a.Net.Params(), b.Net.Params()
	if len(pa) != len(pb) {
		t.Fatalf("%d params vs %d", len(pa), len(pb))
	}
	for i := range pa {
		sameBits(t, pa[i].Name, pa[i].Value.Data, pb[i].Value.Data)
	}
	if len(a.Slots) != len(b.Slots) {
		t.Fatalf("%d optimizer slots vs %d", len(a.Slots), len(b.Slots))
	}
	for k, v := range a.Slots {
		sameBits(t, "optimizer."+k, v, b.Slots[k])
	}
	if a.Step != b.Step || a.Epoch != b.Epoch {
		t.Fatalf("epoch/step %d/%d vs %d/%d", a.Epoch, a.Step, b.Epoch, b.Step)
	}
	for i := range a.History {
		x, y := a.History[i], b.History[i]
		if x.Loss != y.Loss || x.Accuracy != y.Accuracy || x.TestLoss != y.TestLoss || x.TestAccuracy != y.TestAccuracy {
			t.Fatalf("epoch %d metrics differ:\n%+v\n%+v", i+1, x, y)
		}
	}
}

func sameBits(t *testing.T, name string, x, y []float32) {
	t.Helper()
	if len(x) != len(y) {
		t.Fatalf("%s: %d values vs %d", name, len(x), len(y))
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			t.Fatalf("%s[%d]: %v vs %v", name, i, x[i], y[i])
		}
	}
}

// probabilities runs m in inference mode on the first n test images.
func probabilities(t *testing.T, m models.Model, d *data.Dataset) []float32 {
	t.Helper()
	var out []float32
	train.Predict(m, compute.Default(), d, 64, func(logits []float32, _ []int32, K int, _ float64) {
		p := make([]float32, len(logits))
		kernels.Softmax(logits, len(logits)/K, K, p)
		out = append(out, p...)
	})
	return out
}

func TestSaveLoadSameProbabilities(t *testing.T) {
	s := newSession(t, "resnet", "", 1, 64, 100)
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := checkpoint.Save(path, s.Checkpoint()); err != nil {
		t.Fatal(err)
	}
	st, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Model != "resnet" || st.Epoch != 1 || st.Step != 4 || len(st.History) != 1 || st.Position != nil {
		t.Fatalf("loaded %s epoch %d step %d history %d position %v", st.Model, st.Epoch, st.Step, len(st.History), st.Position)
	}
	if train.EpochResult(st.History[0]) != s.History[0] {
		t.Fatalf("history %+v, want %+v", st.History[0], s.History[0])
	}
	_, te := limited(t, 1, 100)
	sameBits(t, "probabilities", probabilities(t, s.Model, te), probabilities(t, st.Net, te))
	// Every parameter, BatchNorm's moving statistics included, and both Adam
	// moments of every trainable one.
	f, err := checkpoint.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tc, nc := 0, 0
	for _, p := range s.Model.Params() {
		if f.Tensor(p.Name) == nil {
			t.Errorf("no tensor %s", p.Name)
		}
		if p.Trainable {
			tc += p.Value.Len()
			for _, slot := range []string{".m", ".v"} {
				if f.Tensor(checkpoint.OptimizerPrefix+p.Name+slot) == nil {
					t.Errorf("no tensor %s", checkpoint.OptimizerPrefix+p.Name+slot)
				}
			}
		} else {
			nc += p.Value.Len()
		}
	}
	if tc != 576282 || nc != 784 {
		t.Errorf("%d trainable and %d non-trainable values, want 576282 and 784", tc, nc)
	}
	if k := f.Tensor("res1.0.conv1.kernel"); k == nil || !tensor.SameShape(k.Shape, []int{3, 3, 8, 16}) {
		t.Errorf("res1.0.conv1.kernel is %v, want HWIO [3 3 8 16]", k)
	}
	if k := f.Tensor("dense1.kernel"); k == nil || !tensor.SameShape(k.Shape, []int{3136, 128}) {
		t.Errorf("dense1.kernel is %v, want [3136 128]", k)
	}
}

// TestResumeEqualsUninterrupted trains two epochs straight and one, saved,
// loaded into a fresh session, and one more: every weight, optimiser slot
// and metric must be identical.
func TestResumeEqualsUninterrupted(t *testing.T) {
	for _, c := range []struct{ model, opt string }{{"resnet", "adam"}, {tinyModel, "sgd"}} {
		t.Run(c.model, func(t *testing.T) {
			if testing.Short() && c.model == "resnet" {
				t.Skip("trains the ResNet")
			}
			straight := newSession(t, c.model, c.opt, 2, 96, 32)
			if err := straight.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			first := newSession(t, c.model, c.opt, 1, 96, 32)
			if err := first.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "last.safetensors")
			if err := checkpoint.Save(path, first.Checkpoint()); err != nil {
				t.Fatal(err)
			}
			st, err := checkpoint.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			resumed := newSession(t, c.model, c.opt, 2, 96, 32)
			if err := resumed.Restore(st); err != nil {
				t.Fatal(err)
			}
			if err := resumed.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			sameState(t, straight.Checkpoint(), resumed.Checkpoint())
		})
	}
}

// TestResumeMidEpoch interrupts a run between two steps of its second
// epoch, saves, and resumes in a fresh session: the result equals the
// uninterrupted run's, dropout included.
func TestResumeMidEpoch(t *testing.T) {
	straight := newSession(t, tinyModel, "", 3, 160, 32)
	if err := straight.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, stop := range []struct{ epoch, step int }{{2, 3}, {1, 10}} {
		st := stopAndSave(t, newSession(t, tinyModel, "", 3, 160, 32), stop.epoch, stop.step)
		want := train.Position{Epoch: stop.epoch, Batches: stop.step}
		if p := st.Position; p == nil || p.Epoch != want.Epoch || p.Batches != want.Batches || st.Loader.Batches != stop.step {
			t.Fatalf("position %+v, want epoch %d batches %d", p, want.Epoch, want.Batches)
		}
		resumed := newSession(t, tinyModel, "", 3, 160, 32)
		if err := resumed.Restore(st); err != nil {
			t.Fatal(err)
		}
		if err := resumed.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		sameState(t, straight.Checkpoint(), resumed.Checkpoint())
	}
}

// damaged writes a variant of the tiny model's checkpoint changed by edit.
func damaged(t *testing.T, good *checkpoint.File, edit func(f *checkpoint.File)) string {
	t.Helper()
	f := &checkpoint.File{Metadata: map[string]string{}}
	for k, v := range good.Metadata {
		f.Metadata[k] = v
	}
	for _, x := range good.Tensors {
		f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: x.Name, Shape: append([]int(nil), x.Shape...), Data: x.Data})
	}
	edit(f)
	path := filepath.Join(t.TempDir(), "damaged.safetensors")
	if err := checkpoint.WriteFile(path, f.Tensors, f.Metadata); err != nil {
		t.Fatal(err)
	}
	return path
}

// unchecked writes the tiny model's checkpoint as format version ver
// without a checksum, as resgo wrote version 1.
func unchecked(t *testing.T, good *checkpoint.File, ver string) string {
	t.Helper()
	var b bytes.Buffer
	meta := maps.Clone(good.Metadata)
	meta["format_version"] = ver
	if err := checkpoint.Encode(&b, good.Tensors, meta); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v"+ver+".safetensors")
	if err := os.WriteFile(path, checkpoint.WithoutChecksum(t, b.Bytes()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// flipped writes a copy of the file at path with one bit of byte i
// flipped, counting from the end if i is negative.
func flipped(t *testing.T, path string, i int) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if i < 0 {
		i += len(b)
	}
	b[i] ^= 1
	out := filepath.Join(t.TempDir(), "flipped.safetensors")
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func drop(f *checkpoint.File, name string) {
	for i, x := range f.Tensors {
		if x.Name == name {
			f.Tensors = append(f.Tensors[:i], f.Tensors[i+1:]...)
			return
		}
	}
	panic("no tensor " + name)
}

func TestLoadDamaged(t *testing.T) {
	s := newSession(t, tinyModel, "", 1, 32, 16)
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	goodPath := filepath.Join(dir, "good.safetensors")
	if err := checkpoint.Save(goodPath, s.Checkpoint()); err != nil {
		t.Fatal(err)
	}
	good, err := checkpoint.ReadFile(goodPath)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(goodPath)
	truncPath := filepath.Join(dir, "truncated.safetensors")
	os.WriteFile(truncPath, raw[:len(raw)/2], 0o644)
	editedPath := filepath.Join(dir, "edited.safetensors")
	os.WriteFile(editedPath, []byte(strings.Replace(string(raw), `"dense1.kernel":{"dtype":"F32","shape":[196,32]`, `"dense1.kernel":{"dtype":"F32","shape":[196,31]`, 1)), 0o644)
	meta := func(k, v string) func(*checkpoint.File) { return func(f *checkpoint.File) { f.Metadata[k] = v } }
	for _, c := range []struct {
		name string
		path string
		want string
	}{
		{"truncated", truncPath, "outside"},
		{"header edited", editedPath, `tensor "dense1.kernel": shape [196 31] needs 24304 bytes`},
		{"missing file", filepath.Join(dir, "nope.safetensors"), "no such file"},
		{"wrong shape", damaged(t, good, func(f *checkpoint.File) { f.Tensor("dense1.kernel").Shape = []int{392, 16} }),
			`tensor "dense1.kernel" has shape [392 16], but model checkpoint-test-tiny needs [196 32]`},
		{"missing tensor", damaged(t, good, func(f *checkpoint.File) { drop(f, "bn.moving_mean") }), `tensor "bn.moving_mean" of model checkpoint-test-tiny is missing`},
		{"another model's file", damaged(t, good, meta("model", "resnet")), "a file of another model?"},
		{"unknown model", damaged(t, good, meta("model", "gpt-17")), `unknown model "gpt-17"`},
		{"stray tensor", damaged(t, good, func(f *checkpoint.File) {
			f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: "extra", Shape: []int{1}, Data: []float32{1}})
		}),
			`tensor "extra" is not a parameter of model checkpoint-test-tiny`},
		{"slot missing", damaged(t, good, func(f *checkpoint.File) { drop(f, "optimizer.dense1.kernel.v") }), `slot "optimizer.dense1.kernel.v" is missing`},
		{"slot of a moving statistic", damaged(t, good, func(f *checkpoint.File) {
			f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: "optimizer.bn.moving_mean.m", Shape: []int{4}, Data: make([]float32, 4)})
		}), "not a trainable parameter"},
		{"slot wrong shape", damaged(t, good, func(f *checkpoint.File) { f.Tensor("optimizer.conv.bias.m").Shape = []int{2, 2} }), "has shape [2 2], but its parameter has [4]"},
		{"not a resgo file", damaged(t, good, func(f *checkpoint.File) { delete(f.Metadata, "format") }), "not a resgo checkpoint"},
		{"newer format", damaged(t, good, meta("format_version", "9")), "newer than this resgo reads"},
		{"bad history", damaged(t, good, meta("history", "[{")), `metadata "history" is not valid`},
		{"bad options", damaged(t, good, meta("model_options", `{"Width":"wide"}`)), `metadata "model_options" is not valid`},
		{"no epoch", damaged(t, good, func(f *checkpoint.File) { delete(f.Metadata, "epoch") }), `no "epoch"`},
		{"epoch mismatch", damaged(t, good, meta("epoch", "3")), "history has 1 epochs"},
		{"bad step", damaged(t, good, meta("step", "-1")), `"step" is "-1"`},
		{"negative moving variance", damaged(t, good, func(f *checkpoint.File) { f.Tensor("bn.moving_variance").Data = []float32{1, -5, 1, 1} }),
			`tensor "bn.moving_variance" holds -5 at index 1, but it holds variances, which are never negative: the file is damaged`},
		{"negative second moment", damaged(t, good, func(f *checkpoint.File) { f.Tensor("optimizer.conv.bias.v").Data = []float32{0, 0, 0, -1e-9} }),
			`tensor "optimizer.conv.bias.v" holds -1e-09 at index 3`},
		{"checksum key lost", unchecked(t, good, "2"), `format version 2 requires a checksum, and its metadata has no "checksum"`},
		{"one byte flipped", flipped(t, goodPath, -100), "its checksum does not match its content"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := checkpoint.Load(c.path)
			var ce *checkpoint.Error
			if !errors.As(err, &ce) || ce.File != c.path {
				t.Fatalf("err = %v, want an *Error for %s", err, c.path)
			}
			if !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %q\nwant the file name and %q", err, c.want)
			}
		})
	}

	// A version 1 file, without a checksum, loads with a notice.
	v1 := unchecked(t, good, "1")
	st, err := checkpoint.Load(v1)
	if err != nil || !strings.Contains(st.Notice, v1) || !strings.Contains(st.Notice, "no checksum") {
		t.Fatalf("Load of a version 1 file: notice %q, err %v", st.Notice, err)
	}
	if st, err := checkpoint.Load(goodPath); err != nil || st.Notice != "" {
		t.Fatalf("Load of a checksummed file: notice %q, err %v", st.Notice, err)
	}
	// Save refuses what Load refuses.
	st.Net.Params()[0].Value.Data[0] = float32(math.Inf(1))
	if err := checkpoint.Save(filepath.Join(dir, "x.safetensors"), st); err == nil {
		t.Error("Save wrote an infinity")
	}
	st.Slots["conv.bias.v"][0] = -1
	st.Net.Params()[0].Value.Data[0] = 0
	if err := checkpoint.Save(filepath.Join(dir, "x.safetensors"), st); err == nil || !strings.Contains(err.Error(), "never negative") {
		t.Errorf("Save of a negative variance: %v", err)
	}

	// Restoring into a session of another model, or another run's settings.
	st, err = checkpoint.Load(goodPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    *train.Session
		want string
	}{
		{newSession(t, "resnet", "", 2, 32, 16), "is a checkpoint of model checkpoint-test-tiny, not resnet"},
		{newSession(t, tinyModel, "sgd", 2, 32, 16), "optimizer adam, not sgd"},
	} {
		if err := c.s.Restore(st); err == nil || !strings.Contains(err.Error(), goodPath) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Restore = %v, want %q", err, c.want)
		}
	}
}
