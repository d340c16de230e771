package nn_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"resgo/autograd"
	"resgo/compute"
	"resgo/nn"
	"resgo/tensor"
)

func near(got float32, want, tol float64) bool {
	return math.Abs(float64(got)-want) <= tol*max(1, math.Abs(want))
}

// TestBatchNormKeras follows keras.layers.BatchNormalization (momentum
// 0.99, epsilon 1e-3) through three training steps with different batches
// and then one inference step, on a 2×1×2×2 input:
//
//	training:  y = gamma·(x − mean)/sqrt(var + 1e-3) + beta, batch mean and
//	           biased variance (divided by the count, as tf.nn.moments);
//	           moving_mean = 0.99·moving_mean + 0.01·mean,
//	           moving_variance = 0.99·moving_variance + 0.01·var;
//	inference: the same with the moving statistics.
//
// The expected values are computed here in float64 from those formulas, and
// a few are also written out as literals worked out by hand.
func TestBatchNormKeras(t *testing.T) {
	// NHWC [2, 1, 2, 2]: positions (n, w) = (0,0), (0,1), (1,0), (1,1), each
	// with channels 0 and 1.
	batches := [][]float32{
		{1, 0, 3, 2, 2, -2, 6, 4},          // ch0 1,3,2,6 (mean 3, var 3.5); ch1 0,2,−2,4 (mean 1, var 5)
		{4, 10, 4, -10, 0, 0, 0, 0},        // ch0 mean 2, var 4; ch1 mean 0, var 50
		{-3, 0.5, -1, 0.5, 1, 0.5, 3, 2.5}, // ch0 mean 0, var 5; ch1 mean 1, var 0.75
	}
	gamma, beta := []float32{1.5, -0.5}, []float32{0.2, -1}
	bn := nn.NewBatchNorm("bn")
	if err := nn.Build(bn, []int{1, 2, 2}); err != nil {
		t.Fatal(err)
	}
	if bn.Momentum != 0.99 || bn.Epsilon != 1e-3 {
		t.Fatalf("defaults momentum %v epsilon %v, want Keras's 0.99 and 1e-3", bn.Momentum, bn.Epsilon)
	}
	for c := 0; c < 2; c++ {
		if bn.Gamma.Value.Data[c] != 1 || bn.Beta.Value.Data[c] != 0 || bn.MovingMean.Value.Data[c] != 0 || bn.MovingVar.Value.Data[c] != 1 {
			t.Fatal("BatchNorm should start with gamma 1, beta 0, moving mean 0, moving variance 1")
		}
	}
	if bn.MovingMean.Trainable || bn.MovingVar.Trainable || bn.MovingMean.Grad != nil || !bn.Gamma.Trainable || !bn.Beta.Trainable {
		t.Fatal("moving statistics must be non-trainable, gamma and beta trainable")
	}
	copy(bn.Gamma.Value.Data, gamma)
	copy(bn.Beta.Value.Data, beta)

	// The float64 model of the layer.
	mm, mv := []float64{0, 0}, []float64{1, 1}
	stats := func(x []float32, c int) (mean, variance float64) {
		for i := c; i < len(x); i += 2 {
			mean += float64(x[i])
		}
		mean /= 4
		for i := c; i < len(x); i += 2 {
			variance += (float64(x[i]) - mean) * (float64(x[i]) - mean)
		}
		return mean, variance / 4
	}
	apply := func(x []float32, mean, variance []float64) []float64 {
		y := make([]float64, len(x))
		for i, v := range x {
			c := i % 2
			y[i] = float64(gamma[c])*(float64(v)-mean[c])/math.Sqrt(variance[c]+1e-3) + float64(beta[c])
		}
		return y
	}
	// Literals worked out by hand: the training output of step 1, and the
	// moving statistics after each step.
	step1Y := []float64{-1.4033384194871645, -0.776415559576253, 0.2, -1.223584440423747,
		-0.6016692097435823, -0.3292466787287589, 2.605007629230747, -1.670753321271241}
	movingMean := [][]float64{{0.03, 0.01}, {0.0497, 0.0099}, {0.049203, 0.019801}}
	movingVar := [][]float64{{1.025, 1.04}, {1.05475, 1.5296}, {1.0942025, 1.521804}}

	pool := compute.NewPool(1)
	defer pool.Close()
	for step, x := range batches {
		tp := autograd.NewTape(pool, 0)
		xv := tp.Constant(tensor.FromData(append([]float32(nil), x...), 2, 1, 2, 2))
		y := bn.Forward(tp, xv, true)
		if !tensor.SameShape(y.Shape(), []int{2, 1, 2, 2}) {
			t.Fatalf("step %d: output shape %v", step+1, y.Shape())
		}
		mean, variance := make([]float64, 2), make([]float64, 2)
		for c := 0; c < 2; c++ {
			mean[c], variance[c] = stats(x, c)
			mm[c] = 0.99*mm[c] + 0.01*mean[c]
			mv[c] = 0.99*mv[c] + 0.01*variance[c]
		}
		want := apply(x, mean, variance)
		if step == 0 {
			for i := range want {
				if math.Abs(want[i]-step1Y[i]) > 1e-7 { // beta is the float32 nearest 0.2
					t.Fatalf("the float64 model disagrees with the hand values: %v vs %v", want, step1Y)
				}
			}
		}
		for i := range want {
			if !near(y.Value.Data[i], want[i], 1e-5) {
				t.Errorf("step %d: training output[%d] = %v, want %v", step+1, i, y.Value.Data[i], want[i])
			}
		}
		for c := 0; c < 2; c++ {
			if math.Abs(mm[c]-movingMean[step][c]) > 1e-12 || math.Abs(mv[c]-movingVar[step][c]) > 1e-12 {
				t.Fatalf("the float64 model disagrees with the hand values at step %d: %v %v", step+1, mm, mv)
			}
			if !near(bn.MovingMean.Value.Data[c], mm[c], 1e-6) {
				t.Errorf("step %d: moving_mean[%d] = %v, want %v", step+1, c, bn.MovingMean.Value.Data[c], mm[c])
			}
			if !near(bn.MovingVar.Value.Data[c], mv[c], 1e-6) {
				t.Errorf("step %d: moving_variance[%d] = %v, want %v (biased batch variance)", step+1, c, bn.MovingVar.Value.Data[c], mv[c])
			}
		}
	}

	// Inference on the last batch uses the moving statistics and leaves
	// them alone; the fused ReLU variant clips the same values at 0.
	inferY := []float64{-4.170492549296311, -1.1945670307180276, -1.3038467082051726, -1.1945670307180276,
		1.5627991328859654, -1.1945670307180276, 4.4294449739771045, -2.0049270302933184}
	want := apply(batches[2], mm, mv)
	for i := range want {
		if math.Abs(want[i]-inferY[i]) > 1e-7 {
			t.Fatalf("the float64 model disagrees with the hand values: %v vs %v", want, inferY)
		}
	}
	for _, relu := range []bool{false, true} {
		tp := autograd.NewTape(pool, 0)
		xv := tp.Constant(tensor.FromData(append([]float32(nil), batches[2]...), 2, 1, 2, 2))
		var y *autograd.Var
		if relu {
			y = bn.ForwardReLU(tp, xv, false)
		} else {
			y = bn.Forward(tp, xv, false)
		}
		for i, w := range want {
			if relu {
				w = max(w, 0)
			}
			if !near(y.Value.Data[i], w, 1e-5) {
				t.Errorf("inference relu=%v: output[%d] = %v, want %v", relu, i, y.Value.Data[i], w)
			}
		}
		for c := 0; c < 2; c++ {
			if !near(bn.MovingMean.Value.Data[c], mm[c], 1e-6) || !near(bn.MovingVar.Value.Data[c], mv[c], 1e-6) {
				t.Fatalf("inference changed the moving statistics: %v %v", bn.MovingMean.Value.Data, bn.MovingVar.Value.Data)
			}
		}
	}

	// Training with the fused ReLU: the training output, clipped.
	tp := autograd.NewTape(pool, 0)
	y := bn.ForwardReLU(tp, tp.Constant(tensor.FromData(append([]float32(nil), batches[0]...), 2, 1, 2, 2)), true)
	for i, w := range step1Y {
		if !near(y.Value.Data[i], max(w, 0), 1e-5) {
			t.Errorf("training relu: output[%d] = %v, want %v", i, y.Value.Data[i], max(w, 0))
		}
	}
}

func TestBatchNormMomentum(t *testing.T) {
	// The Momentum field is honoured: with 0.9 one step moves the moving
	// mean a tenth of the way: 0.1·3 = 0.3, and the variance to 0.9 + 0.35.
	bn := nn.NewBatchNorm("bn")
	bn.Momentum = 0.9
	tp := autograd.NewTape(compute.NewPool(1), 0)
	bn.Forward(tp, tp.Constant(tensor.FromData([]float32{1, 3, 2, 6}, 4, 1)), true)
	if !near(bn.MovingMean.Value.Data[0], 0.3, 1e-6) || !near(bn.MovingVar.Value.Data[0], 1.25, 1e-6) {
		t.Fatalf("momentum 0.9: moving mean %v variance %v, want 0.3 and 1.25", bn.MovingMean.Value.Data[0], bn.MovingVar.Value.Data[0])
	}
}

// fdLoss evaluates the mean cross-entropy of model on x on a fresh tape.
func fdLoss(pool *compute.Pool, model nn.Layer, x *tensor.Tensor, labels []int32, training bool) float64 {
	tp := autograd.NewTape(pool, 1)
	return float64(tp.SoftmaxCrossEntropy(model.Forward(tp, tp.Constant(x), training), labels, nil).Value.Data[0])
}

// TestLayersGrad checks the gradients that a small network of the layers
// (a strided 3×3 conv, BatchNorm in training and in inference, a 1×1 conv
// without bias, Flatten, Dense) leaves in its parameters' Grad against
// central finite differences of the loss.
func TestLayersGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(40, 40))
	for _, training := range []bool{true, false} {
		for _, workers := range []int{1, 3} {
			pool := compute.NewPool(workers)
			conv := nn.NewConv2D(r, "conv", 4, 3, autograd.Same, nn.Linear)
			conv.Stride = 2
			bn := nn.NewBatchNorm("bn")
			pw := nn.NewConv2D(r, "pointwise", 4, 1, autograd.Valid, nn.Linear)
			pw.NoBias = true
			dense := nn.NewDense(r, "dense", 5, nn.Linear)
			model := nn.Sequential{conv, bn, pw, nn.Flatten{}, dense, nn.Dropout{Rate: 0}}
			if err := nn.Build(model, []int{5, 7, 3}); err != nil {
				t.Fatal(err)
			}
			for c := 0; c < 4; c++ {
				bn.MovingMean.Value.Data[c] = float32(0.2 * r.NormFloat64())
				bn.MovingVar.Value.Data[c] = 0.5 + r.Float32()
			}
			for _, p := range model.Params() {
				if p.Trainable {
					for i := range p.Value.Data { // non-zero biases and betas
						if p.Value.Data[i] == 0 {
							p.Value.Data[i] = float32(0.3 * r.NormFloat64())
						}
					}
				}
			}
			x := tensor.New(2, 5, 7, 3)
			for i := range x.Data {
				x.Data[i] = float32(r.NormFloat64())
			}
			labels := []int32{3, 0}

			for _, p := range model.Params() {
				if p.Grad != nil {
					p.Grad.Zero()
				}
			}
			tp := autograd.NewTape(pool, 1)
			out := model.Forward(tp, tp.Constant(x), training)
			if !tensor.SameShape(out.Shape(), []int{2, 5}) {
				t.Fatalf("output shape %v, want [2 5]", out.Shape())
			}
			if err := tp.Backward(tp.SoftmaxCrossEntropy(out, labels, nil)); err != nil {
				t.Fatal(err)
			}
			const h = 1e-2
			for _, p := range model.Params() {
				if !p.Trainable {
					continue
				}
				var dd, nn2 float64
				for _, i := range []int{0, p.Value.Len() / 3, p.Value.Len() / 2, p.Value.Len() - 1} {
					v := p.Value.Data[i]
					p.Value.Data[i] = v + h
					fp := fdLoss(pool, model, x, labels, training)
					p.Value.Data[i] = v - h
					fm := fdLoss(pool, model, x, labels, training)
					p.Value.Data[i] = v
					num := (fp - fm) / (float64(v+h) - float64(v-h))
					ana := float64(p.Grad.Data[i])
					if math.Abs(ana-num) > 2e-2*max(1, math.Abs(num)) {
						t.Errorf("training=%v workers=%d: d%s[%d] = %v, finite difference %v", training, workers, p.Name, i, ana, num)
					}
					dd += (ana - num) * (ana - num)
					nn2 += num * num
				}
				if math.Sqrt(dd) > 1e-2*math.Sqrt(nn2)+2e-3 {
					t.Errorf("training=%v workers=%d: d%s off by %.3g relative", training, workers, p.Name, math.Sqrt(dd/nn2))
				}
			}
			pool.Close()
		}
	}
}

func TestGlorotUniform(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 41))
	w := make([]float32, 20000)
	fanIn, fanOut := 3*3*16, 3*3*32
	nn.GlorotUniform(r, w, fanIn, fanOut)
	limit := math.Sqrt(6 / float64(fanIn+fanOut))
	var sum, sq, maxAbs float64
	for _, v := range w {
		sum += float64(v)
		sq += float64(v) * float64(v)
		maxAbs = max(maxAbs, math.Abs(float64(v)))
	}
	n := float64(len(w))
	if maxAbs > limit {
		t.Errorf("value %v outside ±%v", maxAbs, limit)
	}
	if maxAbs < 0.99*limit {
		t.Errorf("largest |value| %v, want close to the limit %v", maxAbs, limit)
	}
	// U(−l, l) has mean 0 and variance l²/3.
	if mean := sum / n; math.Abs(mean) > 0.02*limit {
		t.Errorf("mean %v, want about 0", mean)
	}
	if v := sq / n; math.Abs(v-limit*limit/3) > 0.03*limit*limit/3 {
		t.Errorf("variance %v, want about %v", v, limit*limit/3)
	}
}

func TestLayerConstructors(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	c := nn.NewConv2D(r, "c", 8, 5, autograd.Same, nn.ReLU)
	if c.Kernel != nil || c.Params() != nil {
		t.Fatal("a Conv2D has parameters before its first input")
	}
	if err := nn.Build(c, []int{9, 9, 3}); err != nil {
		t.Fatal(err)
	}
	if !tensor.SameShape(c.Kernel.Value.Shape, []int{5, 5, 3, 8}) || !tensor.SameShape(c.Bias.Value.Shape, []int{8}) || c.Stride != 1 {
		t.Fatalf("NewConv2D: kernel %v bias %v stride %d", c.Kernel.Value.Shape, c.Bias.Value.Shape, c.Stride)
	}
	limit := float32(math.Sqrt(6 / float64(5*5*3+5*5*8)))
	for _, v := range c.Kernel.Value.Data {
		if v < -limit || v > limit {
			t.Fatalf("conv kernel value %v outside the Glorot limit %v", v, limit)
		}
	}
	for _, v := range c.Bias.Value.Data {
		if v != 0 {
			t.Fatal("conv bias should start at zero")
		}
	}
	d := nn.NewDense(r, "d", 3, nn.Linear)
	if err := nn.Build(d, []int{7}); err != nil {
		t.Fatal(err)
	}
	if !tensor.SameShape(d.Kernel.Value.Shape, []int{7, 3}) || !tensor.SameShape(d.Bias.Value.Shape, []int{3}) {
		t.Fatalf("NewDense: kernel %v bias %v", d.Kernel.Value.Shape, d.Bias.Value.Shape)
	}
	seq := nn.Sequential{nn.NewConv2D(r, "c", 8, 5, autograd.Same, nn.ReLU), nn.NewBatchNorm("bn"),
		nn.MaxPool2D{}, nn.Flatten{}, nn.NewDense(r, "d", 3, nn.Linear), nn.Identity{}}
	if err := nn.Build(seq, []int{4, 6, 3}); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, p := range seq.Params() {
		names = append(names, fmt.Sprint(p.Name, p.Value.Shape))
	}
	if got, want := fmt.Sprint(names), "[c.kernel[5 5 3 8] c.bias[8] bn.gamma[8] bn.beta[8] bn.moving_mean[8] bn.moving_variance[8] d.kernel[48 3] d.bias[3]]"; got != want {
		t.Errorf("Sequential.Params %s, want %s", got, want)
	}
	nb := nn.NewConv2D(r, "nb", 8, 5, autograd.Same, nn.ReLU)
	nb.NoBias = true
	nd := nn.NewDense(r, "nd", 3, nn.Linear)
	nd.NoBias = true
	if err := nn.Build(nn.Sequential{nb, nn.Flatten{}, nd}, []int{2, 2, 1}); err != nil {
		t.Fatal(err)
	}
	if len(nb.Params()) != 1 || nb.Bias != nil || len(nd.Params()) != 1 || nd.Bias != nil {
		t.Errorf("layers without bias have %d and %d params, want 1 each", len(nb.Params()), len(nd.Params()))
	}
}

// TestActivationsAndParameterFreeLayers checks the ReLU activation of Conv2D
// and Dense against the linear output, the fused BatchNorm+ReLU against
// BatchNorm then ReLU, and the shapes of MaxPool2D, Flatten, Identity and
// Dropout.
func TestActivationsAndParameterFreeLayers(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 43))
	pool := compute.NewPool(2)
	defer pool.Close()
	x := tensor.New(2, 5, 7, 3)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	tp := autograd.NewTape(pool, 0)
	xv := tp.Constant(x)

	conv := nn.NewConv2D(r, "c", 4, 3, autograd.Same, nn.Linear)
	lin := conv.Forward(tp, xv, true)
	conv.Activation = nn.ReLU
	act := conv.Forward(tp, xv, true)
	pos := 0
	for i, v := range lin.Value.Data {
		if act.Value.Data[i] != max(v, 0) {
			t.Fatalf("conv ReLU[%d] = %v, want max(%v, 0)", i, act.Value.Data[i], v)
		}
		if v > 0 {
			pos++
		}
	}
	if pos == 0 || pos == len(lin.Value.Data) {
		t.Fatal("the ReLU test needs outputs of both signs")
	}

	bn := nn.NewBatchNorm("bn")
	fused := bn.ForwardReLU(tp, lin, true)
	split := tp.ReLU(bn.Forward(tp, lin, true))
	for i := range fused.Value.Data {
		if math.Abs(float64(fused.Value.Data[i]-split.Value.Data[i])) > 1e-6 {
			t.Fatalf("fused BN+ReLU[%d] = %v, BN then ReLU %v", i, fused.Value.Data[i], split.Value.Data[i])
		}
	}

	pooled := nn.MaxPool2D{}.Forward(tp, lin, true)
	if !tensor.SameShape(pooled.Shape(), []int{2, 2, 3, 4}) {
		t.Fatalf("MaxPool2D of [2 5 7 4]: %v, want [2 2 3 4]", pooled.Shape())
	}
	flat := nn.Flatten{}.Forward(tp, pooled, true)
	if !tensor.SameShape(flat.Shape(), []int{2, 24}) {
		t.Fatalf("Flatten: %v, want [2 24]", flat.Shape())
	}
	d := nn.NewDense(r, "d", 6, nn.ReLU)
	da := d.Forward(tp, flat, true)
	dl := tp.Dense(flat, tp.Param(d.Kernel), tp.Param(d.Bias))
	for i, v := range dl.Value.Data {
		if da.Value.Data[i] != max(v, 0) {
			t.Fatalf("dense ReLU[%d] = %v, want max(%v, 0)", i, da.Value.Data[i], v)
		}
	}
	if (nn.Identity{}).Forward(tp, flat, true) != flat {
		t.Error("Identity should return its input")
	}
	drop := nn.Dropout{Rate: 0.5}
	if drop.Forward(tp, flat, false) != flat {
		t.Error("Dropout in inference should return its input")
	}
	dropped := drop.Forward(tp, flat, true)
	zeros := 0
	for i, v := range dropped.Value.Data {
		if v == 0 && flat.Value.Data[i] != 0 {
			zeros++
		} else if !near(v, 2*float64(flat.Value.Data[i]), 1e-6) {
			t.Fatalf("Dropout(0.5) kept value %v as %v, want twice", flat.Value.Data[i], v)
		}
	}
	if zeros == 0 || zeros == len(dropped.Value.Data) {
		t.Errorf("Dropout(0.5) dropped %d of %d", zeros, len(dropped.Value.Data))
	}
}
