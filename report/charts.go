package report

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"strconv"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"resgo/models"
)

// DPI is the resolution of the PNG charts.
const DPI = 120

// CurvesSize and ConfusionSize are the pixel sizes of the PNG charts. The
// SVG charts have the same proportions, in points: a pixel is 72/DPI
// points.
var (
	CurvesSize    = image.Pt(1200, 660)
	ConfusionSize = image.Pt(780, 780)
)

// Metric selects the chart WriteCurves draws.
type Metric int

const (
	// Accuracy charts train and test accuracy in percent.
	Accuracy Metric = iota
	// Loss charts train and test cross-entropy on a log scale.
	Loss
)

// palette10 is Tableau's ten-colour palette: distinct hues that stay
// apart for the colour-blind better than the rainbow does.
var palette10 = []color.RGBA{
	{0x4e, 0x79, 0xa7, 0xff}, // blue
	{0xe1, 0x57, 0x59, 0xff}, // red
	{0x59, 0xa1, 0x4f, 0xff}, // green
	{0xf2, 0x8e, 0x2b, 0xff}, // orange
	{0xb0, 0x7a, 0xa1, 0xff}, // purple
	{0x76, 0xb7, 0xb2, 0xff}, // teal
	{0xed, 0xc9, 0x48, 0xff}, // yellow
	{0x9c, 0x75, 0x5f, 0xff}, // brown
	{0xff, 0x9d, 0xa7, 0xff}, // pink
	{0xba, 0xb0, 0xac, 0xff}, // grey
}

// glyphs gives each model a marker shape as well as a colour.
var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{}, draw.BoxGlyph{},
}

// sans returns the charts' typeface at the given size.
func sans(size vg.Length, bold bool) font.Font {
	f := font.From(font.Font{Typeface: "Liberation", Variant: "Sans"}, size)
	if bold {
		f.Weight = xfont.WeightBold
	}
	return f
}

// newPlot returns a plot with the report's fonts and a title.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = sans(15, true)
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(12, false)
		a.Tick.Label.Font = sans(10, false)
	}
	p.Legend.TextStyle.Font = sans(11, false)
	return p
}

// canvas returns a canvas of the given pixel size for format "png" or
// "svg" (where a pixel at DPI becomes 72/DPI points).
func canvas(size image.Point, format string) (vg.CanvasWriterTo, error) {
	w := vg.Length(size.X) * vg.Inch / DPI
	h := vg.Length(size.Y) * vg.Inch / DPI
	switch format {
	case "png":
		return vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(DPI), vgimg.UseBackgroundColor(color.White))}, nil
	case "svg":
		return vgsvg.New(w, h), nil
	}
	return nil, fmt.Errorf("report: unknown chart format %q (png or svg)", format)
}

// series is one curve: a model's train or test figures.
type series struct {
	line    *plotter.Line
	points  *plotter.Scatter
	band    *plotter.Polygon // the seeds' range, for a fold of several seeds (nil otherwise)
	learned bool             // the model learned (its accuracy is well above chance)
	lo, hi  float64
}

// WriteCurves draws every model's train (dashed) and test (solid) curves
// of the metric on one chart and writes it as PNG or SVG, with the legend
// to the right of the plot. A model trained under several seeds is drawn
// as its mean over them, its test curve in a band from the lowest to the
// highest seed. When some models learn and others stay near
// chance, the accuracy chart gets a second panel zoomed in on the models
// that learn.
func (c *Comparison) WriteCurves(w io.Writer, m Metric, format string) error {
	title, ylabel := "Accuracy per epoch", "accuracy (%)"
	if m == Loss {
		title, ylabel = "Loss per epoch", "cross-entropy loss (log scale)"
	}
	legend := plot.NewLegend()
	legend.TextStyle.Font = sans(11, false)
	legend.ThumbnailWidth = vg.Points(28)
	legend.Top, legend.Left = true, true
	var all []series
	maxEpoch := 0
	runs := c.models()
	for i := range runs {
		r := &runs[i]
		col := palette10[i%len(palette10)]
		for _, test := range []bool{true, false} {
			var xys plotter.XYs
			s := series{learned: r.outcome() == learned, lo: math.Inf(1), hi: math.Inf(-1)}
			// fig is the figure charted, numbered as in figureNames.
			fig := 1
			switch {
			case m == Accuracy && test:
				fig = 3
			case m == Loss && test:
				fig = 2
			case m == Loss:
				fig = 0
			}
			scale := 1.0
			if m == Accuracy {
				scale = 100
			}
			usable := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && (m != Loss || v > 0) }
			var upper, lower plotter.XYs
			for k, e := range r.History {
				v := scale * figure(e, fig)
				if !usable(v) {
					continue
				}
				xys = append(xys, plotter.XY{X: float64(e.Epoch), Y: v})
				maxEpoch = max(maxEpoch, e.Epoch)
				s.lo, s.hi = math.Min(s.lo, v), math.Max(s.hi, v)
				if test && r.spread != nil && r.spread.many() {
					lo, hi := scale*figure(r.spread.lo[k], fig), scale*figure(r.spread.hi[k], fig)
					if usable(lo) && usable(hi) {
						lower = append(lower, plotter.XY{X: float64(e.Epoch), Y: lo})
						upper = append(upper, plotter.XY{X: float64(e.Epoch), Y: hi})
						s.lo, s.hi = math.Min(s.lo, lo), math.Max(s.hi, hi)
					}
				}
			}
			if len(upper) > 1 {
				ring := append(plotter.XYs(nil), upper...)
				for k := len(lower) - 1; k >= 0; k-- {
					ring = append(ring, lower[k])
				}
				band, err := plotter.NewPolygon(ring)
				if err != nil {
					return err
				}
				band.Color = color.NRGBA{col.R, col.G, col.B, 0x40}
				band.LineStyle.Width = 0
				s.band = band
			}
			if len(xys) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return err
			}
			line.Color = col
			line.Width = vg.Points(2)
			points.Color = col
			points.Shape = glyphs[i%len(glyphs)]
			points.Radius = vg.Points(3.5)
			name := r.Model + " test"
			if !test {
				line.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
				line.Width = vg.Points(1.5)
				points.Radius = vg.Points(2.5)
				name = r.Model + " train"
			}
			s.line, s.points = line, points
			all = append(all, s)
			legend.Add(name, line, points)
		}
	}
	span := func(learnedOnly bool) (lo, hi float64) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, s := range all {
			if s.learned || !learnedOnly {
				lo, hi = math.Min(lo, s.lo), math.Max(hi, s.hi)
			}
		}
		return lo, hi
	}
	// build draws every series; the y range spans all of them, or with
	// learnedOnly only those of models that learn.
	build := func(title string, learnedOnly bool) *plot.Plot {
		p := newPlot(title, "epoch", ylabel)
		grid := plotter.NewGrid()
		grid.Vertical.Color = color.Gray{Y: 0xe0}
		grid.Horizontal.Color = color.Gray{Y: 0xe0}
		p.Add(grid)
		for _, s := range all {
			if s.band != nil {
				p.Add(s.band) // bands first, under every line
			}
		}
		for _, s := range all {
			p.Add(s.line, s.points) // the zoom clips what falls outside
		}
		if maxEpoch <= 1 {
			p.X.Min, p.X.Max = 0.5, 1.5
		} else {
			p.X.Min, p.X.Max = 1, float64(maxEpoch)
		}
		p.X.Tick.Marker = epochTicks{}
		lo, hi := span(learnedOnly)
		switch {
		case math.IsInf(lo, 0):
		case m == Loss:
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = logTicks{}
			p.Y.Min, p.Y.Max = lo/1.15, hi*1.15
		default:
			pad := math.Max((hi-lo)*0.06, 0.25)
			p.Y.Min, p.Y.Max = math.Max(0, lo-pad), math.Min(100, hi+pad)
			p.Y.Tick.Marker = niceTicks{}
		}
		return p
	}

	cv, err := canvas(CurvesSize, format)
	if err != nil {
		return err
	}
	dc := draw.New(cv)
	r := legend.Rectangle(dc)
	right := r.Max.X - r.Min.X + vg.Points(24)
	if c.TrainImages > 0 {
		title += fmt.Sprintf(" (%s training, %s test images)", commas(c.TrainImages), commas(c.TestImages))
	}
	main := build(title, false)
	legend.YOffs = -(main.Title.TextStyle.FontExtents().Height + 2*main.Title.Padding)
	legend.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-right+vg.Points(12), 0, 0, 0))
	plots := dc
	plots.Max.X -= right
	allLo, _ := span(false)
	learnedLo, _ := span(true)
	if m == Accuracy && !math.IsInf(learnedLo, 0) && learnedLo-allLo > 20 {
		// Two panels: every model, and a zoom on those that learn.
		half := (plots.Max.X - plots.Min.X) / 2
		left, zoom := plots, plots
		left.Max.X = left.Min.X + half
		zoom.Min.X = left.Max.X + vg.Points(12)
		build("Accuracy per epoch, all models", false).Draw(left)
		build("Zoomed in on the models that learn", true).Draw(zoom)
	} else {
		main.Draw(plots)
	}
	_, err = cv.WriteTo(w)
	return err
}

// epochTicks marks whole epochs: every one up to 15, then a round step.
type epochTicks struct{}

// Ticks returns the tick marks between min and max.
func (epochTicks) Ticks(min, max float64) []plot.Tick {
	n := max - min
	step := 1
	for _, s := range []int{1, 2, 5, 10, 20, 50, 100} {
		step = s
		if n/float64(s) <= 15 {
			break
		}
	}
	var ts []plot.Tick
	for e := int(math.Ceil(min)); float64(e) <= max; e++ {
		if e%step == 0 || (step > 1 && e == 1) {
			ts = append(ts, plot.Tick{Value: float64(e), Label: strconv.Itoa(e)})
		}
	}
	return ts
}

// niceTicks labels a linear axis every 1, 2, 2.5 or 5 times a power of
// ten, with about five to ten labels, and marks the halves between.
type niceTicks struct{}

// Ticks returns the tick marks between min and max.
func (niceTicks) Ticks(min, max float64) []plot.Tick {
	if !(max > min) {
		return nil
	}
	mag := math.Pow(10, math.Floor(math.Log10(max-min)))
	step := mag
	for _, f := range []float64{0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10} {
		step = f * mag
		if (max-min)/step <= 10 {
			break
		}
	}
	prec := max0(-int(math.Floor(math.Log10(step) + 1e-9)))
	if f := step / math.Pow(10, math.Floor(math.Log10(step)+1e-9)); f == 2.5 {
		prec++
	}
	var ts []plot.Tick
	for i := math.Ceil(min/step*2 - 1e-9); i*step/2 <= max+1e-9; i++ {
		v := i * step / 2
		t := plot.Tick{Value: v}
		if int(i)%2 == 0 {
			t.Label = strconv.FormatFloat(v, 'f', prec, 64)
		}
		ts = append(ts, t)
	}
	return ts
}

func max0(n int) int { return max(n, 0) }

// logTicks labels 1, 2, 3 and 5 times powers of ten on a range of up to
// a decade and a half, 1, 2 and 5 up to three decades, the powers alone
// beyond, and marks the other integers between.
type logTicks struct{}

// Ticks returns the tick marks between min and max.
func (logTicks) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max > min) {
		return nil
	}
	decades := math.Log10(max / min)
	labelled := map[int]bool{1: true, 2: true, 5: true}
	switch {
	case decades <= 1.5:
		labelled[3] = true
	case decades > 3:
		labelled = map[int]bool{1: true}
	}
	lo, hi := int(math.Floor(math.Log10(min))), int(math.Ceil(math.Log10(max)))
	var ts []plot.Tick
	for d := lo; d <= hi; d++ {
		base := math.Pow(10, float64(d))
		for k := 1; k <= 9; k++ {
			v := float64(k) * base
			if v < min || v > max {
				continue
			}
			t := plot.Tick{Value: v}
			if labelled[k] {
				t.Label = strconv.FormatFloat(v, 'g', 3, 64)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// confusionGrid adapts a confusion matrix to plotter.GridXYZ: column c is
// the predicted class, row r the true class K−1−r (so that class 0 is at
// the top, as in a printed matrix), and Z is log(1+count) scaled to [0, 1].
type confusionGrid struct {
	m   [][]int
	max float64
}

func (g confusionGrid) Dims() (c, r int) { return len(g.m), len(g.m) }
func (g confusionGrid) X(c int) float64  { return float64(c) }
func (g confusionGrid) Y(r int) float64  { return float64(r) }
func (g confusionGrid) Z(c, r int) float64 {
	return math.Log1p(float64(g.m[len(g.m)-1-r][c])) / g.max
}

// blues is a white-to-navy sequential palette (ColorBrewer's Blues),
// interpolated to 256 steps.
type blues struct{}

var bluesStops = []color.RGBA{
	{0xf7, 0xfb, 0xff, 0xff}, {0xde, 0xeb, 0xf7, 0xff}, {0xc6, 0xdb, 0xef, 0xff},
	{0x9e, 0xca, 0xe1, 0xff}, {0x6b, 0xae, 0xd6, 0xff}, {0x42, 0x92, 0xc6, 0xff},
	{0x21, 0x71, 0xb5, 0xff}, {0x08, 0x51, 0x9c, 0xff}, {0x08, 0x30, 0x6b, 0xff},
}

// Colors returns the palette's colours from light to dark.
func (blues) Colors() []color.Color {
	const n = 256
	cs := make([]color.Color, n)
	for i := range cs {
		f := float64(i) / (n - 1) * float64(len(bluesStops)-1)
		j := min(int(f), len(bluesStops)-2)
		t := f - float64(j)
		a, b := bluesStops[j], bluesStops[j+1]
		mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x)*(1-t) + float64(y)*t)) }
		cs[i] = color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xff}
	}
	return cs
}

// WriteConfusion draws the run's confusion matrix as a heatmap with the
// counts written in the cells and writes it as PNG.
func WriteConfusion(w io.Writer, r *Run) error {
	K := len(r.Confusion)
	if K == 0 {
		return fmt.Errorf("report: %s has no confusion matrix", r.Model)
	}
	total, correct, biggest := 0, 0, 0
	for t, row := range r.Confusion {
		if len(row) != K {
			return fmt.Errorf("report: %s's confusion matrix is not square", r.Model)
		}
		for p, v := range row {
			total += v
			if t == p {
				correct += v
			}
			biggest = max(biggest, v)
		}
	}
	acc := 0.0
	if total > 0 {
		acc = 100 * float64(correct) / float64(total)
	}
	title := fmt.Sprintf("%s: %s test images, %.2f%% correct", r.Model, commas(total), acc)
	p := newPlot(title, "predicted digit", "true digit")
	g := confusionGrid{m: r.Confusion, max: math.Max(math.Log1p(float64(biggest)), 1e-9)}
	h := plotter.NewHeatMap(g, blues{})
	h.Min, h.Max = 0, 1
	p.Add(h)

	var xys plotter.XYs
	var labels []string
	for row := 0; row < K; row++ {
		for col := 0; col < K; col++ {
			xys = append(xys, plotter.XY{X: float64(col), Y: float64(row)})
			labels = append(labels, strconv.Itoa(r.Confusion[K-1-row][col]))
		}
	}
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return err
	}
	size := vg.Points(11)
	if biggest >= 10000 {
		size = vg.Points(9)
	}
	for i := range lab.TextStyle {
		row, col := i/K, i%K
		v := r.Confusion[K-1-row][col]
		st := &lab.TextStyle[i]
		st.Font = sans(size, row == K-1-col)
		st.XAlign, st.YAlign = draw.XCenter, draw.YCenter
		st.Color = color.Gray{0x30}
		if g.Z(col, row) > 0.6 {
			st.Color = color.White
		}
		if v == 0 {
			st.Color = color.Gray{0xb0}
		}
	}
	p.Add(lab)

	var xt, yt plot.ConstantTicks
	for k := 0; k < K; k++ {
		xt = append(xt, plot.Tick{Value: float64(k), Label: r.ClassName(k)})
		yt = append(yt, plot.Tick{Value: float64(k), Label: r.ClassName(K - 1 - k)})
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = xt, yt
	p.X.Min, p.X.Max = -0.5, float64(K)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(K)-0.5
	p.X.Padding, p.Y.Padding = 0, 0
	p.X.Tick.Label.Font = sans(11, false)
	p.Y.Tick.Label.Font = sans(11, false)

	cv, err := canvas(ConfusionSize, "png")
	if err != nil {
		return err
	}
	p.Draw(draw.Crop(draw.New(cv), 0, -vg.Points(14), 0, 0))
	_, err = cv.WriteTo(w)
	return err
}

// commas formats n with thousands separators.
func commas(n int) string { return models.Commas(int64(n)) }
