package report

import (
	"resgo/compute"
	"resgo/data"
	"resgo/models"
	"resgo/train"
)

// ConfusionMatrix runs m in inference mode over every image of d, in
// batches of batch, and returns the counts [true class][predicted class]
// (the prediction is the highest logit, the first on ties).
func ConfusionMatrix(m models.Model, pool *compute.Pool, d *data.Dataset, batch int) [][]int {
	var conf [][]int
	train.Predict(m, pool, d, batch, func(logits []float32, labels []int32, K int, _ float64) {
		if conf == nil {
			conf = make([][]int, K)
			for i := range conf {
				conf[i] = make([]int, K)
			}
		}
		for b, l := range labels {
			if int(l) < K {
				conf[l][train.Argmax(logits[b*K:(b+1)*K])]++
			}
		}
	})
	return conf
}
