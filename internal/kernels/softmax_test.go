package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSoftmaxCrossEntropyHand(t *testing.T) {
	// logits [1, 2, 3]: softmax = e^k / (e + e² + e³).
	// Label 2: loss = −log(e³/(e+e²+e³)) = log(1 + e^−1 + e^−2) = 0.40760596.
	// Label 0: loss = log(1 + e + e²) = 2 + log(1 + e^−1 + e^−2) = 2.40760596.
	logits := []float32{1, 2, 3, 1, 2, 3}
	labels := []int32{2, 0}
	prob, losses := make([]float32, 6), make([]float32, 2)
	loss := SoftmaxCrossEntropy(logits, labels, 2, 3, 0, prob, losses)
	l2 := math.Log(1 + math.Exp(-1) + math.Exp(-2))
	if math.Abs(l2-0.4076059644443804) > 1e-15 {
		t.Fatalf("hand value wrong: %v", l2)
	}
	for i, want := range []float64{l2, 2 + l2} {
		if math.Abs(float64(losses[i])-want) > 1e-6 {
			t.Errorf("loss[%d] = %v, want %v", i, losses[i], want)
		}
	}
	if want := (l2 + 2 + l2) / 2; math.Abs(float64(loss)-want) > 1e-6 {
		t.Errorf("mean loss = %v, want %v", loss, want)
	}
	s := math.E + math.E*math.E + math.E*math.E*math.E
	for k, want := range []float64{math.E / s, math.E * math.E / s, math.E * math.E * math.E / s} {
		for b := 0; b < 2; b++ {
			if math.Abs(float64(prob[b*3+k])-want) > 1e-7 {
				t.Errorf("prob[%d][%d] = %v, want %v", b, k, prob[b*3+k], want)
			}
		}
	}
	// Gradient of the mean: scale·(prob − onehot)/B, accumulated.
	d := []float32{1, 1, 1, 1, 1, 1}
	SoftmaxCrossEntropyBackward(prob, labels, 2, 3, 0, 2, d)
	for b, lab := range labels {
		for k := 0; k < 3; k++ {
			want := float64(prob[b*3+k])
			if int32(k) == lab {
				want--
			}
			want = 1 + 2*want/2
			if math.Abs(float64(d[b*3+k])-want) > 1e-6 {
				t.Errorf("dlogits[%d][%d] = %v, want %v", b, k, d[b*3+k], want)
			}
		}
	}
	// Softmax alone gives the same probabilities.
	y := make([]float32, 6)
	Softmax(logits, 2, 3, y)
	for i := range y {
		if math.Abs(float64(y[i]-prob[i])) > 1e-7 {
			t.Errorf("Softmax[%d] = %v, SoftmaxCrossEntropy's prob %v", i, y[i], prob[i])
		}
	}
}

func TestSoftmaxCrossEntropyStable(t *testing.T) {
	for _, tc := range []struct {
		logits []float32
		label  int32
		want   float64
	}{
		{[]float32{1000, -1000, 0}, 1, 2000},   // −log softmax = 1000 − (−1000)
		{[]float32{1000, -1000, 0}, 0, 0},      // e^−1000 underflows: exactly 0
		{[]float32{-1000, -1000}, 1, math.Ln2}, // equal logits: log 2
		{[]float32{1000, 1000, 1000, 1000}, 3, math.Log(4)},
		{[]float32{88, 89, -100}, 0, math.Log(1 + math.E)},
		{[]float32{3e38, -3e38}, 0, 0},
	} {
		K := len(tc.logits)
		prob, losses := make([]float32, K), make([]float32, 1)
		loss := SoftmaxCrossEntropy(tc.logits, []int32{tc.label}, 1, K, 0, prob, losses)
		if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) || math.Abs(float64(loss)-tc.want) > 1e-5*max(1, tc.want) {
			t.Errorf("logits %v label %d: loss %v, want %v", tc.logits, tc.label, loss, tc.want)
		}
		if loss != losses[0] {
			t.Errorf("logits %v: mean loss %v != per-example loss %v", tc.logits, loss, losses[0])
		}
		var sum float64
		for _, p := range prob {
			if math.IsNaN(float64(p)) || p < 0 || p > 1 {
				t.Fatalf("logits %v: prob %v", tc.logits, prob)
			}
			sum += float64(p)
		}
		if math.Abs(sum-1) > 1e-6 {
			t.Errorf("logits %v: probabilities sum to %v", tc.logits, sum)
		}
		d := make([]float32, K)
		SoftmaxCrossEntropyBackward(prob, []int32{tc.label}, 1, K, 0, 1, d)
		for _, v := range d {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("logits %v: gradient %v", tc.logits, d)
			}
		}
	}
}

func TestSoftmaxCrossEntropyRandom(t *testing.T) {
	// Against a float64 log-sum-exp, for several batch and class counts.
	r := rand.New(rand.NewPCG(13, 13))
	for _, bk := range [][2]int{{1, 1}, {1, 10}, {7, 3}, {32, 10}} {
		B, K := bk[0], bk[1]
		logits := make([]float32, B*K)
		for i := range logits {
			logits[i] = float32(5 * r.NormFloat64())
		}
		labels := make([]int32, B)
		for i := range labels {
			labels[i] = int32(r.IntN(K))
		}
		prob := make([]float32, B*K)
		loss := SoftmaxCrossEntropy(logits, labels, B, K, 0, prob, nil)
		var want float64
		for b := 0; b < B; b++ {
			m := math.Inf(-1)
			for _, v := range logits[b*K : (b+1)*K] {
				m = max(m, float64(v))
			}
			var s float64
			for _, v := range logits[b*K : (b+1)*K] {
				s += math.Exp(float64(v) - m)
			}
			lse := m + math.Log(s)
			want += lse - float64(logits[b*K+int(labels[b])])
			for k, v := range logits[b*K : (b+1)*K] {
				if p := math.Exp(float64(v) - lse); math.Abs(float64(prob[b*K+k])-p) > 1e-6 {
					t.Fatalf("B=%d K=%d: prob[%d][%d] = %v, want %v", B, K, b, k, prob[b*K+k], p)
				}
			}
		}
		want /= float64(B)
		if math.Abs(float64(loss)-want) > 1e-5*max(1, want) {
			t.Errorf("B=%d K=%d: loss %v, want %v", B, K, loss, want)
		}
	}
}
