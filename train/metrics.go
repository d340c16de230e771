package train

// Mean is keras.metrics.Mean: the running mean of the values it is given,
// weighted by count.
type Mean struct {
	sum   float64
	count float64
}

// Update adds value with the given weight (for a batch mean, the batch size).
func (m *Mean) Update(value float64, weight float64) {
	m.sum += value * weight
	m.count += weight
}

// Result returns the mean so far (0 before any update).
func (m *Mean) Result() float64 {
	if m.count == 0 {
		return 0
	}
	return m.sum / m.count
}

// Reset forgets every value.
func (m *Mean) Reset() { *m = Mean{} }

// SparseCategoricalAccuracy is keras.metrics.SparseCategoricalAccuracy: the
// share of examples whose highest-scoring class equals the integer label.
type SparseCategoricalAccuracy struct {
	correct, total int
}

// Update scores a batch of scores [B, K] (logits or probabilities) against
// labels [B]. Ties go to the lowest class, as argmax does.
func (a *SparseCategoricalAccuracy) Update(scores []float32, labels []int32, K int) {
	for b, l := range labels {
		if Argmax(scores[b*K:(b+1)*K]) == int(l) {
			a.correct++
		}
		a.total++
	}
}

// Result returns the accuracy in [0, 1] (0 before any update).
func (a *SparseCategoricalAccuracy) Result() float64 {
	if a.total == 0 {
		return 0
	}
	return float64(a.correct) / float64(a.total)
}

// Reset forgets every example.
func (a *SparseCategoricalAccuracy) Reset() { *a = SparseCategoricalAccuracy{} }

// Argmax returns the index of the largest value (the first on ties).
func Argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
