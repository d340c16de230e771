//go:build !(linux || darwin || freebsd)

package train

// PeakRSS returns 0: the peak resident set size is not known here.
func PeakRSS() int64 { return 0 }
