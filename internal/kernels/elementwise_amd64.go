//go:build amd64 && !purego

package kernels

//go:noescape
func scaleShiftAVX512(x, center, y, scale, shift *float32, blocks, vecs int, relu bool)

//go:noescape
func momentsAVX512(x *float32, s1, s2 *float64, blocks, vecs int)

//go:noescape
func bnSumsAVX512(x, center, dy, scale, shift *float32, sumG, sumGX *float64, blocks, vecs int)

//go:noescape
func bnGradAVX512(x, center, dy, scale, shift, dx, a, b, d *float32, blocks, vecs int, acc bool)

//go:noescape
func reluBackAVX512(y, dy, dx *float32, n int)

//go:noescape
func addAVX512(x, y, z *float32, n int)

//go:noescape
func reluAVX512(x, y *float32, n int)

//go:noescape
func adamAVX512(w, grad, m, v *float32, n int, c *[7]float32)

//go:noescape
func maxPoolRowAVX512(x, y, arg *float32, ow, vecs, rowBytes int)

//go:noescape
func maxPoolBackRowAVX512(dy, arg, dx *float32, ow, vecs, rowBytes int)

//go:noescape
func colSumAVX512(x, out *float32, rows, vecs int)

//go:noescape
func epilogueAVX512(y, bias, center, scale, shift, res *float32, blocks, vecs, flags int)

//go:noescape
func momentsAVX2(x *float32, s1, s2 *float64, blocks, vecs int)

//go:noescape
func scaleShiftAVX2(x, center, y, scale, shift *float32, blocks, vecs int, relu bool)

//go:noescape
func bnSumsAVX2(x, center, dy, y *float32, sumG, sumGX *float64, blocks, vecs int)

//go:noescape
func bnGradAVX2(x, center, dy, y, dx, a, b, d *float32, blocks, vecs int, acc bool)

//go:noescape
func colSumAVX2(x, out *float32, rows, vecs int)
