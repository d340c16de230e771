package train

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"resgo/compute"
	"resgo/data"
	"resgo/internal/testmnist"
	"resgo/models"
	"resgo/optim"
	"resgo/tensor"
)

// torchGolden is what scripts/torch-golden.py writes: PyTorch's float64
// computation of two Keras-style training steps of the ResNet.
type torchGolden struct {
	Batch  int // images per batch
	First  int // the first training image used
	Params []struct {
		Name  string
		Shape []int
	}
	Steps []struct {
		Loss    float64
		Grads   map[string]goldenSample // first step: gradients
		Updates map[string]goldenSample // first step: Adam's change to each parameter
		Moving  map[string][]float64    // first step: moving statistics after it
	}
	Eval struct { // inference before training, on the batch after the steps'
		Logits []float64
		Loss   float64
	}
}

// goldenSample is a tensor's L2 norm and some of its values.
type goldenSample struct {
	Norm  float64
	Index []int
	Value []float64
}

// splitmix64 is the mixing function of scripts/torch-golden.py.
func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// goldenInit sets parameter j (Keras layout) to the script's starting values:
// a function of j and the element's index, Glorot's range for kernels.
func goldenInit(t *testing.T, name string, shape []int, j int, v []float32) {
	for i := range v {
		u := float64(splitmix64(uint64(j)<<32|uint64(i))>>40) * 0x1p-24
		s := 2*u - 1
		var x float64
		switch {
		case strings.HasSuffix(name, ".kernel"):
			fanIn := 1
			for _, d := range shape[:len(shape)-1] {
				fanIn *= d
			}
			fanOut := shape[len(shape)-1]
			for _, d := range shape[:len(shape)-2] {
				fanOut *= d
			}
			x = math.Sqrt(6/float64(fanIn+fanOut)) * s
		case strings.HasSuffix(name, ".gamma"):
			x = 1 + 0.1*s
		case strings.HasSuffix(name, ".bias"), strings.HasSuffix(name, ".beta"):
			x = 0.1 * s
		case strings.HasSuffix(name, ".moving_mean"):
			x = 0
		case strings.HasSuffix(name, ".moving_variance"):
			x = 1
		default:
			t.Fatalf("no starting value for parameter %s", name)
		}
		v[i] = float32(x)
	}
}

// norm is the L2 norm of v, summed in float64.
func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// TestResNetMatchesPyTorch checks the whole engine against PyTorch: the
// tutorial's ResNet, built by models.New, runs inference on 8 MNIST
// training images and then two training steps of Adam on 8 others each,
// from starting weights that the test and scripts/torch-golden.py compute
// by the same formula. It must agree with PyTorch's float64 computation of
// the same (Keras's BatchNorm and Adam, see the script) on
//   - the inference logits and loss (moving mean 0, variance 1);
//   - the first step's loss, and the moving statistics after it
//     (momentum 0.99, biased variance);
//   - the first step's gradient of every trainable parameter, and Adam's
//     change to it (norms, and 16 values each);
//   - the second step's loss.
//
// The tolerances are float32's: 1e-6 of a loss, 1e-4 of a gradient's
// root-mean-square value (the largest error seen is 3.3e-5, with the
// AVX-512 and the portable kernels alike), 2e-4 of Adam's step (6.6e-5
// seen: the change to a gamma near 1 is rounded to float32's spacing there).
// They hold because the script picks images on which no ReLU input of the
// first step lies within 1e-5 of its layer's scale from zero (see the
// script): at such a tie, rounding decides whether the ReLU passes a
// gradient, and the two engines may decide differently.
func TestResNetMatchesPyTorch(t *testing.T) {
	b, err := os.ReadFile("testdata/torch-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g torchGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("testdata/torch-golden.json: %v", err)
	}
	if len(g.Steps) != 2 {
		t.Fatalf("testdata/torch-golden.json has %d steps, want 2", len(g.Steps))
	}
	m, err := models.New("resnet", models.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	params := m.Params()
	if len(params) != len(g.Params) {
		t.Fatalf("the model has %d parameters, the golden file %d: regenerate it with scripts/torch-golden.py", len(params), len(g.Params))
	}
	for j, p := range params {
		if p.Name != g.Params[j].Name || !slices.Equal(p.Value.Shape, g.Params[j].Shape) {
			t.Fatalf("parameter %d is %s %v, the golden file has %s %v", j, p.Name, p.Value.Shape, g.Params[j].Name, g.Params[j].Shape)
		}
		goldenInit(t, p.Name, p.Value.Shape, j, p.Value.Data)
	}

	tr, _, err := testmnist.Load()
	if err != nil {
		t.Fatal(err)
	}
	n, px := g.Batch, tr.H*tr.W
	batch := func(k int) (*tensor.Tensor, []int32) {
		x := tensor.New(n, tr.H, tr.W, 1)
		y := make([]int32, n)
		for i := range n {
			for q, v := range tr.Image(g.First + k*n + i) {
				x.Data[i*px+q] = float32(v) / 255
			}
			y[i] = int32(tr.Labels[g.First+k*n+i])
		}
		return x, y
	}

	pool := compute.NewPool(2)
	defer pool.Close()
	tt := NewTrainer(m, optim.NewAdam(1e-3), pool, n, tr.H, tr.W, 1, 1)

	// check compares got with a golden sample: the norm within rel, each
	// value within rel of the tensor's root-mean-square value.
	check := func(what, name string, got []float32, want goldenSample, rel float64) {
		t.Helper()
		if gn := norm(got); math.Abs(gn-want.Norm) > rel*want.Norm {
			t.Errorf("%s %s: norm %.7g, PyTorch %.7g", what, name, gn, want.Norm)
		}
		rms := want.Norm / math.Sqrt(float64(len(got)))
		for k, i := range want.Index {
			if d := math.Abs(float64(got[i]) - want.Value[k]); d > rel*rms {
				t.Errorf("%s %s[%d] = %.7g, PyTorch %.7g", what, name, i, got[i], want.Value[k])
			}
		}
	}

	// Inference before training: BatchNorm normalises with the moving
	// statistics, mean 0 and variance 1.
	k := g.First + 2*n
	eval := &data.Dataset{Images: tr.Images[k*px : (k+n)*px], Labels: tr.Labels[k : k+n], N: n, H: tr.H, W: tr.W}
	Predict(m, pool, eval, n, func(logits []float32, _ []int32, _ int, loss float64) {
		if math.Abs(loss-g.Eval.Loss) > 1e-6*g.Eval.Loss {
			t.Errorf("inference: loss %.9g, PyTorch %.9g", loss, g.Eval.Loss)
		}
		for i, want := range g.Eval.Logits {
			if math.Abs(float64(logits[i])-want) > 1e-5*(1+math.Abs(want)) {
				t.Errorf("inference: logit %d = %.7g, PyTorch %.7g", i, logits[i], want)
			}
		}
	})

	// Step 1.
	before := make([][]float32, len(params))
	for j, p := range params {
		before[j] = slices.Clone(p.Value.Data)
	}
	x, y := batch(0)
	s1 := g.Steps[0]
	if loss := tt.TrainStep(x, y); math.Abs(loss-s1.Loss) > 1e-6*s1.Loss {
		t.Errorf("step 1: loss %.9g, PyTorch %.9g", loss, s1.Loss)
	}
	for j, p := range params {
		if !p.Trainable {
			want, ok := s1.Moving[p.Name]
			if !ok {
				t.Fatalf("the golden file has no %s", p.Name)
			}
			for i, w := range want {
				if v := p.Value.Data[i]; math.Abs(float64(v)-w) > 1e-6*(1+math.Abs(w)) {
					t.Errorf("step 1: %s[%d] = %.9g, PyTorch %.9g", p.Name, i, v, w)
				}
			}
			continue
		}
		grad, ok := s1.Grads[p.Name]
		update, ok2 := s1.Updates[p.Name]
		if !ok || !ok2 {
			t.Fatalf("the golden file has no gradient or update of %s", p.Name)
		}
		if grad.Norm < 1e-10 {
			// A convolution's bias that feeds BatchNorm: the normalisation
			// subtracts it again, so its exact gradient is zero and what
			// either engine computes is rounding noise (about 1e-15 in
			// float64, 1e-5 in float32). Adam scales that noise up to steps
			// of about lr, which BatchNorm cancels as well; TensorFlow in
			// float32 does the same. Only the noise's size is checked.
			if gn := norm(p.Grad.Data); gn > 1e-3 {
				t.Errorf("step 1: gradient of %s: norm %.3g, want about 0 (the bias feeds BatchNorm)", p.Name, gn)
			}
			continue
		}
		check("step 1: gradient of", p.Name, p.Grad.Data, grad, 1e-4)
		delta := make([]float32, len(before[j]))
		for i := range delta {
			delta[i] = p.Value.Data[i] - before[j][i]
		}
		check("step 1: Adam's change to", p.Name, delta, update, 2e-4)
	}

	// Step 2.
	x, y = batch(1)
	if loss := tt.TrainStep(x, y); math.Abs(loss-g.Steps[1].Loss) > 1e-3*g.Steps[1].Loss {
		t.Errorf("step 2: loss %.7g, PyTorch %.7g", loss, g.Steps[1].Loss)
	}
}
