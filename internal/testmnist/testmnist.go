// Package testmnist gives tests the embedded MNIST sets decoded once per
// test binary: decoding all 70,000 images again in every test cost more
// than the training steps of several, most of all under -race. The sets
// are shared, so a test only reads them.
package testmnist

import (
	"sync"

	"resgo/data"
)

var mnist struct {
	once        sync.Once
	train, test *data.Dataset
	err         error
}

// Load returns data.LoadMNIST's training and test sets, decoded on the
// first call only.
func Load() (train, test *data.Dataset, err error) {
	mnist.once.Do(func() { mnist.train, mnist.test, mnist.err = data.LoadMNIST() })
	return mnist.train, mnist.test, mnist.err
}
