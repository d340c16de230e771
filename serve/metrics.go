package serve

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, registered in its own
// registry (so that several servers in one process, as in tests, do not
// collide).
type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	batchSize *prometheus.HistogramVec
	reloads   *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "resgo_requests_total",
			Help: "HTTP requests answered, by model (empty if none), route and status code.",
		}, []string{"model", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "resgo_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by model and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"model", "route"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "resgo_batch_size",
			Help:    "Images per forward pass, by model.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}, []string{"model"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "resgo_reloads_total",
			Help: "Checkpoint reloads, by model and result (ok or refused).",
		}, []string{"model", "result"}),
	}
	s.reg.MustRegister(m.requests, m.latency, m.batchSize, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		modelCollector{s})
	return m
}

var (
	queueDesc = prometheus.NewDesc("resgo_queue_depth",
		"Requests waiting for a forward pass, by model.", []string{"model"}, nil)
	inflightDesc = prometheus.NewDesc("resgo_requests_in_flight",
		"Inference requests being handled.", nil, nil)
	infoDesc = prometheus.NewDesc("resgo_model_info",
		"The model served under a name: its architecture, epochs trained and checkpoint file (value 1).",
		[]string{"model", "architecture", "epoch", "path"}, nil)
	epochDesc = prometheus.NewDesc("resgo_model_epoch",
		"Epochs the served model was trained for.", []string{"model"}, nil)
	accuracyDesc = prometheus.NewDesc("resgo_model_test_accuracy",
		"The served model's test accuracy after its last epoch, in [0, 1].", []string{"model"}, nil)
)

// modelCollector reads the queues and the models being served when
// scraped, so that a reload shows at once.
type modelCollector struct{ s *Server }

func (c modelCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDesc
	ch <- inflightDesc
	ch <- infoDesc
	ch <- epochDesc
	ch <- accuracyDesc
}

func (c modelCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(inflightDesc, prometheus.GaugeValue, float64(len(c.s.inflight)))
	for _, name := range c.s.names {
		e := c.s.models[name]
		info := e.model.Load().Info()
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(len(e.b.queue)), name)
		ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1, name, info.Model, strconv.Itoa(info.Epoch), info.Path)
		ch <- prometheus.MustNewConstMetric(epochDesc, prometheus.GaugeValue, float64(info.Epoch), name)
		ch <- prometheus.MustNewConstMetric(accuracyDesc, prometheus.GaugeValue, info.TestAccuracy, name)
	}
}
