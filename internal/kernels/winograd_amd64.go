//go:build amd64 && !purego

package kernels

// winoInputAVX512 is winoInput's transform (winograd_amd64.s).
//
//go:noescape
func winoInputAVX512(p *winoArgs)

// winoOutputAVX512 is winoOutput's transform (winograd_amd64.s).
//
//go:noescape
func winoOutputAVX512(p *winoArgs)

// winoWeightsAVX512 is WinogradWeights' transform (winograd_amd64.s).
//
//go:noescape
func winoWeightsAVX512(p *winoArgs)
