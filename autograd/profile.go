package autograd

import "time"

// OpKind groups ops for timing.
type OpKind int

// The kinds of op a Profile times.
const (
	OpOther OpKind = iota
	OpConvForward
	OpConvBackward
	OpBatchNorm
	OpPooling
	OpDense
	OpElementwise
	OpLoss
	OpConcat    // copies channels side by side (DenseNet's joins)
	OpCustom    // ops defined outside the package (Tape.Custom)
	OpOptimizer // timed by the training loop, not the tape
	NumOpKinds
)

var opKindNames = [NumOpKinds]string{"other", "conv forward", "conv backward", "batchnorm", "pooling", "dense", "elementwise", "loss", "concat", "custom", "optimizer"}

// String names the kind.
func (k OpKind) String() string {
	if k < 0 || k >= NumOpKinds {
		return "unknown"
	}
	return opKindNames[k]
}

// Profile accumulates the time spent in each kind of op, forward and
// backward.
type Profile struct {
	Time [NumOpKinds]time.Duration
}

// Reset zeroes the profile.
func (p *Profile) Reset() { *p = Profile{} }

// SetProfile makes the tape time its ops into p (nil turns timing off).
// Timing costs two clock reads per op.
func (t *Tape) SetProfile(p *Profile) { t.prof = p }

// FLOPs returns the floating-point operations (2 per multiply-add) that the
// tape's convolutions and dense layers have run since the last Reset,
// forward and backward.
func (t *Tape) FLOPs() float64 { return t.flops }

// now returns the time if the tape is profiling.
func (t *Tape) now() time.Time {
	if t.prof == nil {
		return time.Time{}
	}
	return time.Now()
}

// since adds the time since start to kind's total, if profiling.
func (t *Tape) since(kind OpKind, start time.Time) {
	if t.prof != nil {
		t.prof.Time[kind] += time.Since(start)
	}
}

// kindOfBack maps a node to its op kind for backward timing.
func (n *node) backKind() OpKind {
	switch n.kind {
	case OpConvForward:
		return OpConvBackward
	}
	return n.kind
}
