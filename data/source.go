package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"resgo/internal/raster"
)

// The formats Open reads, as Options.Format and Source.Format name them.
const (
	FormatIDX      = "idx"      // MNIST's four IDX files (Fashion-MNIST, KMNIST, EMNIST-digits too)
	FormatCIFAR10  = "cifar10"  // CIFAR-10's binary folder, or cifar-10-binary.tar.gz
	FormatCIFAR100 = "cifar100" // CIFAR-100's binary folder, or cifar-100-binary.tar.gz
	FormatFolder   = "folder"   // an image folder, a sub-folder per class
)

// Formats lists the formats Open reads.
var Formats = []string{FormatIDX, FormatCIFAR10, FormatCIFAR100, FormatFolder}

// DefaultValSplit is the share of a single class tree held out for testing
// when Options.ValSplit is 0.
const DefaultValSplit = 0.1

// Options say how Open reads a data set and what shape it gives it.
type Options struct {
	// Format forces one of Formats; "" detects it from what the path holds.
	Format string
	// Channels converts every image to 1 (grey) or 3 (RGB) channels; 0
	// keeps the data's (an image folder is grey only if every picture is).
	Channels int
	// Height and Width resize every image; 0 keeps the data's size (an
	// image folder of mixed sizes: the most common one).
	Height, Width int
	// ValSplit is the share of each class of a single DIR/<class>/* tree
	// held out as the test set (0: DefaultValSplit), chosen with Seed.
	ValSplit float64
	Seed     uint64
	// SkipBad skips unreadable and corrupt pictures of an image folder,
	// counting them in Source.Skipped, instead of failing.
	SkipBad bool
	// MaxBytes is the most memory the images may take (0:
	// DefaultMemoryLimit()).
	MaxBytes int64
	// TestOnly reads only the test set where the format keeps it apart
	// (MNIST's two test files): Open's train is then nil.
	TestOnly bool
}

func (o Options) maxBytes() int64 {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return DefaultMemoryLimit()
}

func (o Options) valSplit() float64 {
	if o.ValSplit == 0 {
		return DefaultValSplit
	}
	return o.ValSplit
}

// Source describes the data set Open read.
type Source struct {
	Format string // one of Formats
	Path   string // as given; "" for the embedded MNIST
	// Ignored counts the files of an image folder that are not pictures;
	// Skipped the bad pictures and folders left out (Options.SkipBad);
	// Resized the pictures resized to the data set's size, and Sizes the
	// distinct sizes found.
	Ignored, Skipped, Resized, Sizes int
	// Split records how a single class tree was split, nil otherwise.
	Split *Split
	// Digits says the images are MNIST's handwritten digits: the embedded
	// set, or IDX files whose images are MNIST's (not Fashion-MNIST's or
	// KMNIST's, which share the format). Pictures given to a model trained
	// on them are prepared as MNIST's digits were (package imageprep).
	Digits bool
}

// Split is how a single class tree was divided into training and test
// images: in each class, a share Fraction (rounded, at least one image of
// a class of two or more) chosen at random with Seed.
type Split struct {
	Fraction float64 `json:"fraction"`
	Seed     uint64  `json:"seed"`
	Train    int     `json:"train"` // images kept for training
	Test     int     `json:"test"`  // images held out
}

// Describe says in a few words what was read, for a start-up line:
// "image folder photos/ (1,000 images in 12 sizes, resized to 64×64; 3 other files ignored)".
func (s *Source) Describe(d *Dataset) string {
	var parts []string
	if s.Sizes > 1 {
		parts = append(parts, fmt.Sprintf("%d sizes, %d resized to %d×%d", s.Sizes, s.Resized, d.H, d.W))
	} else if s.Resized > 0 {
		parts = append(parts, fmt.Sprintf("resized to %d×%d", d.H, d.W))
	}
	if s.Ignored > 0 {
		parts = append(parts, fmt.Sprintf("%d other files ignored", s.Ignored))
	}
	if s.Skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d bad files skipped", s.Skipped))
	}
	if s.Split != nil {
		parts = append(parts, fmt.Sprintf("%.3g of each class held out for testing, seed %d", s.Split.Fraction, s.Split.Seed))
	}
	name := map[string]string{FormatIDX: "IDX", FormatCIFAR10: "CIFAR-10", FormatCIFAR100: "CIFAR-100", FormatFolder: "image folder"}[s.Format]
	where := s.Path
	if where == "" {
		where = "MNIST (embedded)"
		name = ""
	}
	desc := strings.TrimSpace(name + " " + where)
	desc += fmt.Sprintf(": %d×%d×%d, %d classes", d.H, d.W, d.Channels(), len(d.Classes))
	if len(parts) > 0 {
		desc += " (" + strings.Join(parts, "; ") + ")"
	}
	return desc
}

// Open reads the data set at path: "" is the embedded MNIST; otherwise
// the format is detected from what path holds, unless o.Format forces one:
//
//   - the MNIST IDX files (train-images-idx3-ubyte.gz and the three others);
//   - CIFAR-10's binary folder (data_batch_1.bin … data_batch_5.bin,
//     test_batch.bin, the names in batches.meta.txt) or CIFAR-100's
//     (train.bin, test.bin, fine labels, fine_label_names.txt), or either
//     archive as downloaded (cifar-10-binary.tar.gz), given itself or in
//     the folder;
//   - an image folder: DIR/train/<class>/* and DIR/test/<class>/* (or
//     val/), or a single DIR/<class>/* tree split by o.ValSplit.
//
// It then converts channels and size as o says. Every error caused by the
// input matches ErrFormat and names the file.
func Open(path string, o Options) (train, test *Dataset, src *Source, err error) {
	if o.Format != "" && !slices.Contains(Formats, o.Format) {
		return nil, nil, nil, fmt.Errorf("data: unknown format %q (known: %s)", o.Format, strings.Join(Formats, ", "))
	}
	if o.Channels != 0 && o.Channels != 1 && o.Channels != 3 {
		return nil, nil, nil, fmt.Errorf("data: %d channels: want 1 or 3", o.Channels)
	}
	if (o.Height == 0) != (o.Width == 0) || o.Height < 0 || o.Width < 0 {
		return nil, nil, nil, fmt.Errorf("data: image size %d×%d: give both, positive", o.Height, o.Width)
	}
	if !(o.ValSplit >= 0 && o.ValSplit < 1) {
		return nil, nil, nil, fmt.Errorf("data: validation split %v: want a share in (0, 1)", o.ValSplit)
	}
	src = &Source{Path: path}
	train, test, err = open(path, o, src)
	if err != nil {
		return nil, nil, nil, err
	}
	if src.Format != FormatFolder {
		for _, d := range []*Dataset{train, test} {
			if d == nil {
				continue
			}
			if err := convert(d, o, src); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	return train, test, src, nil
}

// open finds and reads the data set.
func open(path string, o Options, src *Source) (train, test *Dataset, err error) {
	if path == "" {
		src.Format = FormatIDX
		if o.Format != "" && o.Format != FormatIDX {
			return nil, nil, fmt.Errorf("data: --format %s needs --data", o.Format)
		}
		train, test, err = LoadMNIST()
		src.Digits = true
		return train, test, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, &FormatError{Format: "data", File: path, Err: err, Problem: openProblem(err)}
	}
	if !fi.IsDir() {
		name := strings.ToLower(filepath.Base(path))
		if o.Format == FormatIDX || o.Format == FormatFolder ||
			!(strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".tgz")) {
			return nil, nil, &FormatError{Format: "data", File: path, Problem: "not a folder (nor a CIFAR .tar.gz archive): " + lookedFor}
		}
		return openArchive(path, o, src)
	}
	has := func(names ...string) bool {
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(path, n)); err != nil {
				return false
			}
		}
		return true
	}
	format := o.Format
	if format == "" {
		switch {
		case has(TrainImagesFile) || has(strings.TrimSuffix(TrainImagesFile, ".gz")) ||
			o.TestOnly && (has(TestImagesFile) || has(strings.TrimSuffix(TestImagesFile, ".gz"))):
			format = FormatIDX
		case has(CIFAR10TrainFiles[0]) || has(CIFAR10TestFile):
			format = FormatCIFAR10
		case has(CIFAR100TrainFile, CIFAR100TestFile):
			format = FormatCIFAR100
		case has(CIFAR10Archive):
			return openArchive(filepath.Join(path, CIFAR10Archive), o, src)
		case has(CIFAR100Archive):
			return openArchive(filepath.Join(path, CIFAR100Archive), o, src)
		case has("cifar-10-batches-bin"):
			return open(filepath.Join(path, "cifar-10-batches-bin"), o, src)
		case has("cifar-100-binary"):
			return open(filepath.Join(path, "cifar-100-binary"), o, src)
		default:
			classes, _, err := classDirs(path)
			if err != nil {
				return nil, nil, err
			}
			if len(classes) == 0 {
				return nil, nil, &FormatError{Format: "data", File: path, Problem: "no data set found: " + lookedFor}
			}
			format = FormatFolder
		}
	}
	src.Format = format
	switch format {
	case FormatIDX:
		if o.TestOnly {
			test, err = LoadTestDir(path)
		} else {
			train, test, err = LoadDir(path)
		}
		if err == nil {
			src.Digits = sameImages(test, TestImagesFile) && (train == nil || sameImages(train, TrainImagesFile))
		}
		return train, test, err
	case FormatCIFAR10:
		return loadCIFARDir(path, CIFAR10, o.maxBytes())
	case FormatCIFAR100:
		return loadCIFARDir(path, CIFAR100, o.maxBytes())
	}
	return loadFolder(path, o, src)
}

// lookedFor lists what Open looks for in a folder.
var lookedFor = "looked for MNIST's IDX files (" + TrainImagesFile + " and the three others), CIFAR-10's binary files (" +
	CIFAR10TrainFiles[0] + " … " + CIFAR10TestFile + "), CIFAR-100's (" + CIFAR100TrainFile + ", " + CIFAR100TestFile + "), " +
	CIFAR10Archive + " or " + CIFAR100Archive + ", and an image folder (DIR/train/<class>/*, DIR/test/<class>/*, or DIR/<class>/*)"

func openArchive(path string, o Options, src *Source) (train, test *Dataset, err error) {
	train, test, kind, err := loadCIFARArchive(path, o.maxBytes())
	if err != nil {
		return nil, nil, err
	}
	src.Format = FormatCIFAR10
	if kind == CIFAR100 {
		src.Format = FormatCIFAR100
	}
	if o.Format != "" && o.Format != src.Format {
		return nil, nil, &FormatError{Format: "data", File: path, Problem: fmt.Sprintf("holds %s, not %s", src.Format, o.Format)}
	}
	return train, test, nil
}

// convert gives d the channels and size o asks for.
func convert(d *Dataset, o Options, src *Source) error {
	c, h, w := d.Channels(), d.H, d.W
	if o.Channels != 0 {
		c = o.Channels
	}
	if o.Height != 0 {
		h, w = o.Height, o.Width
	}
	if c == d.Channels() && h == d.H && w == d.W {
		return nil
	}
	if err := checkMemory(src.Path, int64(d.N)*int64(h*w*c), o.maxBytes()); err != nil {
		return err
	}
	out := make([]uint8, d.N*h*w*c)
	px, opx := d.ImageLen(), h*w*c
	parallel(d.N, func(i int) {
		img := d.Images[i*px : (i+1)*px]
		if c != d.Channels() {
			img = convertChannels(img, d.Channels(), c)
		}
		raster.ResizePixels(out[i*opx:(i+1)*opx], h, w, img, d.H, d.W, c)
	})
	if h != d.H || w != d.W {
		src.Resized += d.N
	}
	d.Images, d.H, d.W, d.C = out, h, w, c
	return nil
}

// convertChannels returns img's pixels with c channels instead of from.
func convertChannels(img []uint8, from, c int) []uint8 {
	n := len(img) / from
	out := make([]uint8, n*c)
	for i := range n {
		if c == 3 {
			v := img[i]
			out[3*i], out[3*i+1], out[3*i+2] = v, v, v
			continue
		}
		r, g, b := uint32(img[3*i]), uint32(img[3*i+1]), uint32(img[3*i+2])
		out[i] = uint8((299*r + 587*g + 114*b + 500) / 1000)
	}
	return out
}

// SplitStratified divides d into a training and a test set: in each class,
// round(fraction × its images) chosen at random by seed (at least one of a
// class of two or more) go to the test set, the rest, in their order, to
// training. The same data, fraction and seed always give the same split.
// The training set takes over d's memory (its images are moved within it),
// so d must not be used afterwards.
func SplitStratified(d *Dataset, fraction float64, seed uint64) (train, test *Dataset, s *Split, err error) {
	byClass := make([][]int, len(d.Classes))
	for i, l := range d.Labels {
		byClass[l] = append(byClass[l], i)
	}
	held := make([]bool, d.N)
	rng := rand.New(rand.NewPCG(seed, 0x5b117))
	for _, idx := range byClass {
		k := int(math.Round(fraction * float64(len(idx))))
		if k == 0 && len(idx) >= 2 {
			k = 1
		}
		if k == len(idx) {
			k = len(idx) - 1
		}
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for _, i := range idx[:max(k, 0)] {
			held[i] = true
		}
	}
	nTest := 0
	for _, h := range held {
		if h {
			nTest++
		}
	}
	if nTest == 0 {
		return nil, nil, nil, &FormatError{Format: "images", File: d.ImagesFile,
			Problem: fmt.Sprintf("too few images to hold %.3g of each class out for testing: give every class two or more, or a test/ folder", fraction)}
	}
	// The test images are copied out; the training images are moved up
	// within d's own buffers, in order, so that a split never holds the
	// data set twice.
	px := d.ImageLen()
	test = &Dataset{N: nTest, H: d.H, W: d.W, C: d.C, Classes: d.Classes, ImagesFile: d.ImagesFile,
		Images: make([]uint8, 0, nTest*px), Labels: make([]int32, 0, nTest)}
	kept := 0
	for i, h := range held {
		if h {
			test.Images = append(test.Images, d.Image(i)...)
			test.Labels = append(test.Labels, d.Labels[i])
			continue
		}
		if kept != i {
			copy(d.Images[kept*px:(kept+1)*px], d.Image(i))
			d.Labels[kept] = d.Labels[i]
		}
		kept++
	}
	train = &Dataset{N: kept, H: d.H, W: d.W, C: d.C, Classes: d.Classes, ImagesFile: d.ImagesFile,
		Images: slices.Clip(d.Images[:kept*px]), Labels: slices.Clip(d.Labels[:kept])}
	return train, test, &Split{Fraction: fraction, Seed: seed, Train: train.N, Test: test.N}, nil
}
