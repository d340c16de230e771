package kernels

// transposeF32 writes the transpose of src [rows×cols] (row stride lds)
// into dst [cols×rows] (row stride ldd), or adds it to dst when add is
// true, in 8×8 blocks so that both sides are walked a cache line at a time.
func transposeF32(dst []float32, ldd int, src []float32, lds, rows, cols int, add bool) {
	const bs = 8
	for i0 := 0; i0 < rows; i0 += bs {
		i1 := min(i0+bs, rows)
		for j0 := 0; j0 < cols; j0 += bs {
			j1 := min(j0+bs, cols)
			for i := i0; i < i1; i++ {
				s := src[i*lds+j0 : i*lds+j1]
				d := dst[j0*ldd+i:]
				if add {
					for jj, v := range s {
						d[jj*ldd] += v
					}
				} else {
					for jj, v := range s {
						d[jj*ldd] = v
					}
				}
			}
		}
	}
}
