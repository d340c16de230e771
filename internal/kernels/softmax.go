package kernels

import "math"

// SoftmaxCrossEntropy computes, for logits [B, K] and integer labels, the
// probabilities prob = softmax(logits) (saved for the backward pass), the
// mean loss −(1/B)·Σ_b Σ_k q_k·log prob[b, k] (returned), and the
// per-example losses into losses if it is not nil. The target q is the
// one-hot label smoothed as Keras's and PyTorch's label_smoothing ε:
// q_k = (1−ε)·[k = label] + ε/K; with ε = 0 the loss is −log prob[label].
// The softmax subtracts each row's maximum first, and the log-probability
// is taken as logit − max − log Σ exp, so it stays finite for any finite
// logits.
func SoftmaxCrossEntropy(logits []float32, labels []int32, B, K int, smoothing float32, prob, losses []float32) float32 {
	var total float64
	eps := float64(smoothing)
	for b := 0; b < B; b++ {
		row := logits[b*K : (b+1)*K]
		m, s := softmaxRow(row, prob[b*K:(b+1)*K])
		l := -(float64(row[labels[b]]-m) - math.Log(s))
		if eps != 0 {
			// Σ_k −log prob_k = K·(m + log s) − Σ_k logit_k.
			var sum float64
			for _, v := range row {
				sum += float64(v)
			}
			all := float64(K)*(float64(m)+math.Log(s)) - sum
			l = (1-eps)*l + eps/float64(K)*all
		}
		if losses != nil {
			losses[b] = float32(l)
		}
		total += l
	}
	return float32(total / float64(B))
}

// SoftmaxCrossEntropyBackward adds the gradient of the mean loss to dlogits:
// scale·(prob − q)/B, where q is the smoothed one-hot target (see
// SoftmaxCrossEntropy) and scale the loss's incoming gradient.
func SoftmaxCrossEntropyBackward(prob []float32, labels []int32, B, K int, smoothing, scale float32, dlogits []float32) {
	s := scale / float32(B)
	off, on := smoothing/float32(K), 1-smoothing
	for b := 0; b < B; b++ {
		pr := prob[b*K : (b+1)*K]
		d := dlogits[b*K : (b+1)*K]
		for k, v := range pr {
			g := v
			if smoothing != 0 {
				g -= off
			}
			if int32(k) == labels[b] {
				g -= on
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
