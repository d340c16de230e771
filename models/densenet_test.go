package models

import (
	"strings"
	"testing"
)

// TestDenseNetParamCount checks the course's DenseNet against a count by
// hand. A k×k convolution from c to f channels has k·k·c·f + f values, a
// BatchNorm over c channels 2c trainable (γ, β) and 2c not (moving mean
// and variance), a Dense from i to o units i·o + o.
//
//	conv1  3·3·1·8 + 8                                   =      80
//	dl1    BN 8: 16;  conv 3·3·8·4 + 4 = 292;
//	       BN 12: 24; conv 3·3·12·4 + 4 = 436             =     768
//	tr1    conv 3·3·16·16 + 16                            =   2,320
//	dl2    BN 16: 32; conv 3·3·16·8 + 8 = 1,160;
//	       BN 24: 48; conv 3·3·24·8 + 8 = 1,736           =   2,976
//	tr2    conv 3·3·32·32 + 32                            =   9,248
//	dl3    BN 32: 64; conv 3·3·32·16 + 16 = 4,624;
//	       BN 48: 96; conv 3·3·48·16 + 16 = 6,928         =  11,712
//	dense1 7·7·64·128 + 128                               = 401,536
//	dense2 128·10 + 10                                    =   1,290
//	                                             trainable  429,930
//	non-trainable: 2·(8 + 12 + 16 + 24 + 32 + 48)          =     280
func TestDenseNetParamCount(t *testing.T) {
	const conv1, dl1, tr1, dl2, tr2, dl3, dense1, dense2 = 3*3*1*8 + 8,
		2*8 + 3*3*8*4 + 4 + 2*12 + 3*3*12*4 + 4,
		3*3*16*16 + 16,
		2*16 + 3*3*16*8 + 8 + 2*24 + 3*3*24*8 + 8,
		3*3*32*32 + 32,
		2*32 + 3*3*32*16 + 16 + 2*48 + 3*3*48*16 + 16,
		7*7*64*128 + 128,
		128*10 + 10
	const trainable = conv1 + dl1 + tr1 + dl2 + tr2 + dl3 + dense1 + dense2
	const nonTrainable = 2 * (8 + 12 + 16 + 24 + 32 + 48)
	if trainable != 429930 || nonTrainable != 280 {
		t.Fatalf("the hand count is %d + %d, not the 429,930 + 280 written above", trainable, nonTrainable)
	}
	checkCount(t, "densenet", trainable, nonTrainable)
}

// TestDenseNetBCParamCount checks DenseNet-BC (L = 40, k = 12, θ = 0.5)
// against a count by hand. A bottleneck layer on c channels holds BN c
// (2c trainable, 2c not), Conv 1×1 c → 48 (48c, no bias), BN 48 (96, 96)
// and Conv 3×3 48 → 12 (5,184): 50c + 5,280 trainable, 2c + 96 not. A
// block's six layers see c, c+12, ..., c+60.
//
//	conv0   3·3·1·24                                       =     216
//	block1  c = 24..84, Σc = 324: 50·324 + 6·5,280          =  47,880
//	trans1  BN 96: 192; Conv 1×1 96 → 48: 4,608             =   4,800
//	block2  c = 48..108, Σc = 468: 50·468 + 6·5,280         =  55,080
//	trans2  BN 120: 240; Conv 1×1 120 → 60: 7,200           =   7,440
//	block3  c = 60..120, Σc = 540: 50·540 + 6·5,280         =  58,680
//	bn      BN 132: 264                                     =     264
//	classifier 132·10 + 10                                  =   1,330
//	                                               trainable  175,690
//	non-trainable: blocks 2·324 + 576, 2·468 + 576, 2·540 + 576,
//	transitions 192 + 240, final 264                        =   5,088
func TestDenseNetBCParamCount(t *testing.T) {
	layer := func(c int) (int, int) { return 2*c + c*48 + 2*48 + 3*3*48*12, 2*c + 2*48 }
	block := func(c int) (tr, non int) {
		for i := range 6 {
			a, b := layer(c + 12*i)
			tr, non = tr+a, non+b
		}
		return
	}
	b1, n1 := block(24)
	b2, n2 := block(48)
	b3, n3 := block(60)
	trainable := 3*3*1*24 + b1 + (2*96 + 96*48) + b2 + (2*120 + 120*60) + b3 + 2*132 + 132*10 + 10
	nonTrainable := n1 + 2*96 + n2 + 2*120 + n3 + 2*132
	if trainable != 175690 || nonTrainable != 5088 {
		t.Fatalf("the hand count is %d + %d, not the 175,690 + 5,088 written above", trainable, nonTrainable)
	}
	checkCount(t, "densenet-bc", trainable, nonTrainable)
}

// checkCount builds the named model and checks its parameter counts, and
// that its summary shows the same totals.
func checkCount(t *testing.T, name string, trainable, nonTrainable int) {
	t.Helper()
	m, err := New(name, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if tr, non := CountParams(m); tr != trainable || non != nonTrainable {
		t.Errorf("%s: %d trainable + %d non-trainable parameters, want %d + %d", name, tr, non, trainable, nonTrainable)
	}
	s, err := Summarize(name, m, []int{28, 28, 1})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := s.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", b.String())
	if s.Trainable != trainable || s.NonTrainable != nonTrainable {
		t.Errorf("%s summary: %d + %d parameters, want %d + %d", name, s.Trainable, s.NonTrainable, trainable, nonTrainable)
	}
}
