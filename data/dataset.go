package data

import (
	"bytes"
	"compress/gzip"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// NumClasses is the number of MNIST classes: the digits 0 to 9.
const NumClasses = 10

// The four MNIST file names, as published by LeCun et al. LoadDir also
// accepts each without its ".gz" suffix (a raw IDX file).
const (
	TrainImagesFile = "train-images-idx3-ubyte.gz" // 60,000 training images
	TrainLabelsFile = "train-labels-idx1-ubyte.gz" // 60,000 training labels
	TestImagesFile  = "t10k-images-idx3-ubyte.gz"  // 10,000 test images
	TestLabelsFile  = "t10k-labels-idx1-ubyte.gz"  // 10,000 test labels
)

//go:embed mnist/*.gz
var mnistFS embed.FS

// Dataset is a set of images with their class labels, held in memory as
// uint8: N×H×W×C bytes.
type Dataset struct {
	Images []uint8 // N×H×W×C pixels, NHWC row-major, 0 to 255 (MNIST: 0 is background)
	Labels []int32 // N labels, each below len(Classes)
	// N, H, W and C are the number of images, rows, columns and channels
	// (1, grey, or 3, RGB). A C of 0 is taken as 1, as MNIST's are.
	N, H, W, C int
	// Classes names the classes, label i being Classes[i]: "0" to "9" for
	// MNIST, folder names for an image folder.
	Classes []string
	// ImagesFile names the file the images came from (as given to
	// NewDataset: a path for LoadDir), for messages.
	ImagesFile string
}

// Channels returns d.C, or 1 if it is 0.
func (d *Dataset) Channels() int { return max(d.C, 1) }

// ImageLen returns the number of bytes of one image: H×W×C.
func (d *Dataset) ImageLen() int { return d.H * d.W * d.Channels() }

// Digits returns the class names of MNIST: "0" to "9".
func Digits() []string {
	c := make([]string, NumClasses)
	for i := range c {
		c[i] = strconv.Itoa(i)
	}
	return c
}

// NewDataset reads an IDX image file and an IDX label file and checks that
// they agree: the same number of items, every label below NumClasses.
// The names are used only in error messages.
func NewDataset(imagesName string, images io.Reader, labelsName string, labels io.Reader) (*Dataset, error) {
	img, n, h, w, err := ReadImages(imagesName, images)
	if err != nil {
		return nil, err
	}
	lab, err := ReadLabels(labelsName, labels)
	if err != nil {
		return nil, err
	}
	if len(lab) != n {
		return nil, formatErr(labelsName, nil, "%d labels, but %s has %d images", len(lab), imagesName, n)
	}
	lab32 := make([]int32, n)
	for i, l := range lab {
		if l >= NumClasses {
			return nil, formatErr(labelsName, nil, "label %d at index %d is above %d", l, i, NumClasses-1)
		}
		lab32[i] = int32(l)
	}
	return &Dataset{Images: img, Labels: lab32, N: n, H: h, W: w, C: 1, Classes: Digits(), ImagesFile: imagesName}, nil
}

// LoadMNIST returns the MNIST training set (60,000 images) and test set
// (10,000 images) of 28×28 digits, decoded from the copy embedded in the
// binary. Each call decodes afresh (about half a second), so callers may
// modify what they get.
func LoadMNIST() (train, test *Dataset, err error) {
	open := func(name string) (io.ReadCloser, string, error) {
		f, err := mnistFS.Open("mnist/" + name)
		return f, name, err
	}
	return load(open, false)
}

// sameImages reports whether d's first images (up to 1,000) are those of
// the embedded MNIST file name, the test of whether IDX files read from
// disk hold MNIST's digits: only the start of the embedded file is
// decompressed.
func sameImages(d *Dataset, name string) bool {
	if d.H != 28 || d.W != 28 || d.Channels() != 1 || d.N == 0 {
		return false
	}
	f, err := mnistFS.Open("mnist/" + name)
	if err != nil {
		return false
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return false
	}
	const header = 16 // magic, count, rows, columns
	n := min(d.N, 1000) * d.ImageLen()
	b := make([]byte, header+n)
	if _, err := io.ReadFull(z, b); err != nil {
		return false
	}
	return bytes.Equal(b[header:], d.Images[:n])
}

// LoadDir reads the MNIST training and test sets from the four files
// TrainImagesFile, TrainLabelsFile, TestImagesFile and TestLabelsFile in
// dir. Where a ".gz" file is absent, the same name without ".gz" (a raw IDX
// file) is read instead. A missing file gives an error naming its path that
// matches both ErrFormat and fs.ErrNotExist.
func LoadDir(dir string) (train, test *Dataset, err error) {
	return load(dirOpener(dir), false)
}

// LoadTestDir reads only the MNIST test set from dir, the files
// TestImagesFile and TestLabelsFile, as LoadDir does: all that evaluating
// a model needs.
func LoadTestDir(dir string) (*Dataset, error) {
	_, test, err := load(dirOpener(dir), true)
	return test, err
}

// dirOpener returns load's open for the files in dir (see LoadDir).
func dirOpener(dir string) func(name string) (io.ReadCloser, string, error) {
	return func(name string) (io.ReadCloser, string, error) {
		gzPath := filepath.Join(dir, name)
		f, err := os.Open(gzPath)
		if err == nil {
			return f, gzPath, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, gzPath, formatErr(gzPath, err, "cannot open: %v", err)
		}
		rawPath := strings.TrimSuffix(gzPath, ".gz")
		f, err2 := os.Open(rawPath)
		if err2 == nil {
			return f, rawPath, nil
		}
		if !errors.Is(err2, fs.ErrNotExist) {
			return nil, rawPath, formatErr(rawPath, err2, "cannot open: %v", err2)
		}
		return nil, gzPath, formatErr(gzPath, err, "missing file (nor is there %s)", filepath.Base(rawPath))
	}
}

// load reads the four MNIST files through open, which returns a reader and
// the name to use in errors; with testOnly, the two test files only.
func load(open func(name string) (io.ReadCloser, string, error), testOnly bool) (train, test *Dataset, err error) {
	var testImages string // the test images' name in errors
	pair := func(imagesFile, labelsFile string) (*Dataset, error) {
		fi, iname, err := open(imagesFile)
		if err != nil {
			if _, ok := err.(*FormatError); ok {
				return nil, err
			}
			return nil, formatErr(iname, err, "cannot open: %v", err)
		}
		defer fi.Close()
		testImages = iname
		fl, lname, err := open(labelsFile)
		if err != nil {
			if _, ok := err.(*FormatError); ok {
				return nil, err
			}
			return nil, formatErr(lname, err, "cannot open: %v", err)
		}
		defer fl.Close()
		return NewDataset(iname, fi, lname, fl)
	}
	if !testOnly {
		if train, err = pair(TrainImagesFile, TrainLabelsFile); err != nil {
			return nil, nil, err
		}
	}
	if test, err = pair(TestImagesFile, TestLabelsFile); err != nil {
		return nil, nil, err
	}
	if train != nil && (test.H != train.H || test.W != train.W) {
		return nil, nil, formatErr(testImages, nil, "images are %d×%d, but the training images are %d×%d",
			test.H, test.W, train.H, train.W)
	}
	return train, test, nil
}

// Limit returns a Dataset of the first n images of d, sharing d's memory.
// It returns an error if n is below 1 or above d.N.
func (d *Dataset) Limit(n int) (*Dataset, error) {
	if n < 1 || n > d.N {
		return nil, fmt.Errorf("data: limit %d is out of range: the dataset has %d images (want 1 to %d)", n, d.N, d.N)
	}
	px := n * d.ImageLen()
	return &Dataset{Images: d.Images[:px:px], Labels: d.Labels[:n:n], N: n, H: d.H, W: d.W, C: d.C,
		Classes: d.Classes, ImagesFile: d.ImagesFile}, nil
}

// Image returns the H×W×C pixels of image i, row-major, sharing d's memory.
func (d *Dataset) Image(i int) []uint8 {
	px := d.ImageLen()
	return d.Images[i*px : (i+1)*px : (i+1)*px]
}
