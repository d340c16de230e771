package kernels

import "math"

// SoftmaxCrossEntropy computes, for logits [B, K] and integer labels, the
// probabilities prob = softmax(logits) (saved for the backward pass), the
// mean loss −(1/B)·Σ log prob[label] (returned), and the per-example losses
// into losses if it is not nil. The softmax subtracts each row's maximum
// first, and the log-probability is taken as logit − max − log Σ exp, so
// it stays finite for any finite logits.
func SoftmaxCrossEntropy(logits []float32, labels []int32, B, K int, prob, losses []float32) float32 {
	var total float64
	for b := 0; b < B; b++ {
		row := logits[b*K : (b+1)*K]
		m, s := softmaxRow(row, prob[b*K:(b+1)*K])
		l := -(float64(row[labels[b]]-m) - math.Log(s))
		if losses != nil {
			losses[b] = float32(l)
		}
		total += l
	}
	return float32(total / float64(B))
}

// SoftmaxCrossEntropyBackward adds the gradient of the mean loss to dlogits:
// scale·(prob − onehot(label))/B, where scale is the loss's incoming gradient.
func SoftmaxCrossEntropyBackward(prob []float32, labels []int32, B, K int, scale float32, dlogits []float32) {
	s := scale / float32(B)
	for b := 0; b < B; b++ {
		pr := prob[b*K : (b+1)*K]
		d := dlogits[b*K : (b+1)*K]
		for k, v := range pr {
			g := v
			if int32(k) == labels[b] {
				g -= 1
			}
			d[k] += s * g
		}
	}
}

// Softmax writes softmax(x) for each row of x [B, K] into y.
func Softmax(x []float32, B, K int, y []float32) {
	for b := 0; b < B; b++ {
		softmaxRow(x[b*K:(b+1)*K], y[b*K:(b+1)*K])
	}
}

// softmaxRow writes softmax(row) into out, subtracting the row's maximum m
// first, and returns m and s = Σ exp(row − m), from which the
// log-probability of class k is row[k] − m − log s.
func softmaxRow(row, out []float32) (m float32, s float64) {
	m = row[0]
	for _, v := range row {
		m = max(m, v)
	}
	for k, v := range row {
		e := math.Exp(float64(v - m))
		out[k] = float32(e)
		s += e
	}
	inv := 1 / s
	for k := range out {
		out[k] = float32(float64(out[k]) * inv)
	}
	return m, s
}
