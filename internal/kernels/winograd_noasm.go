//go:build !amd64 || purego

package kernels

func winoInputAVX512(p *winoArgs)   { panic("unreachable") }
func winoOutputAVX512(p *winoArgs)  { panic("unreachable") }
func winoWeightsAVX512(p *winoArgs) { panic("unreachable") }
