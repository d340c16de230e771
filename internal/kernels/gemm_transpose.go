package kernels

// transposeF32 writes the transpose of src [rows×cols] (row stride lds)
// into dst [cols×rows] (row stride ldd), in 8×8 blocks so that both sides
// are walked a cache line at a time.
func transposeF32(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	const bs = 8
	for i0 := 0; i0 < rows; i0 += bs {
		i1 := min(i0+bs, rows)
		for j0 := 0; j0 < cols; j0 += bs {
			j1 := min(j0+bs, cols)
			for i := i0; i < i1; i++ {
				s := src[i*lds+j0 : i*lds+j1]
				d := dst[j0*ldd+i:]
				for jj, v := range s {
					d[jj*ldd] = v
				}
			}
		}
	}
}

// transposeAddF32 adds the transpose of src [rows×cols] into dst [cols×rows].
func transposeAddF32(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	const bs = 8
	for i0 := 0; i0 < rows; i0 += bs {
		i1 := min(i0+bs, rows)
		for j0 := 0; j0 < cols; j0 += bs {
			j1 := min(j0+bs, cols)
			for i := i0; i < i1; i++ {
				s := src[i*lds+j0 : i*lds+j1]
				d := dst[j0*ldd+i:]
				for jj, v := range s {
					d[jj*ldd] += v
				}
			}
		}
	}
}
