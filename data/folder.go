package data

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"resgo/internal/oserr"
	"resgo/internal/raster"
	"resgo/models"
)

// ImageExts are the file extensions an image folder's pictures have (in any
// case); other files are ignored and counted.
var ImageExts = []string{".png", ".jpg", ".jpeg", ".gif"}

// testDirs are the names a split image folder's test set may have, in the
// order they are looked for.
var testDirs = []string{"test", "val", "validation"}

// openFile opens an image; tests replace it to simulate unreadable files.
var openFile = func(name string) (io.ReadCloser, error) { return os.Open(name) }

func imagesErr(name string, err error, format string, args ...any) error {
	return &FormatError{Format: "images", File: name, Problem: fmt.Sprintf(format, args...), Err: err}
}

// folderImage is one picture of an image folder.
type folderImage struct {
	path  string
	class int32
	w, h  int
	grey  bool
	bad   error // the reason it is skipped (--skip-bad)
}

// listing is what walking a set's class folders found.
type listing struct {
	images  []folderImage
	ignored int
	skipped int
}

// classDirs returns the sorted names of the sub-folders of dir (following
// symbolic links), which name the classes, and the number of other files.
func classDirs(dir string) (names []string, files int, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, imagesErr(dir, err, "%s", openProblem(err))
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil {
			return nil, 0, imagesErr(p, err, "%s", openProblem(err))
		}
		if fi.IsDir() {
			names = append(names, e.Name())
		} else {
			files++
		}
	}
	sort.Strings(names)
	return names, files, nil
}

// walkClasses lists the images of each class folder dir/<class>, class
// by class, recursively and following symbolic links. skip counts a
// symbolic-link loop or an unreadable folder as a skipped item instead of
// failing. A class folder without images is an error.
func walkClasses(dir string, classes []string, skip bool) (*listing, error) {
	l := &listing{}
	for ci, c := range classes {
		root := filepath.Join(dir, c)
		before := len(l.images)
		if err := l.walk(root, int32(ci), nil, skip); err != nil {
			return nil, err
		}
		if len(l.images) == before {
			return nil, imagesErr(root, nil, "class folder %q holds no images (%s)", c, strings.Join(ImageExts, ", "))
		}
	}
	return l, nil
}

// errLinkLoop is a folder reached again through a symbolic link below it.
var errLinkLoop = errors.New("a symbolic link loop: it leads back to a folder above it")

// walk adds the images under dir; ancestors are the folders above it, to
// detect symbolic-link loops.
func (l *listing) walk(dir string, class int32, ancestors []os.FileInfo, skip bool) error {
	fi, err := os.Stat(dir)
	if err == nil {
		for _, a := range ancestors {
			if os.SameFile(a, fi) {
				err = errLinkLoop
				break
			}
		}
	}
	var ents []os.DirEntry
	if err == nil {
		ents, err = os.ReadDir(dir)
	}
	if err != nil {
		if skip {
			l.skipped++
			return nil
		}
		if err == errLinkLoop {
			return imagesErr(dir, nil, "%v (--skip-bad skips it)", err)
		}
		return imagesErr(dir, err, "%s (--skip-bad skips it)", openProblem(err))
	}
	ancestors = append(ancestors, fi)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p) // follows links
		if err != nil {
			if skip {
				l.skipped++
				continue
			}
			return imagesErr(p, err, "%s (--skip-bad skips it)", openProblem(err))
		}
		switch {
		case st.IsDir():
			if err := l.walk(p, class, ancestors, skip); err != nil {
				return err
			}
		case st.Mode().IsRegular() && isImageName(e.Name()):
			l.images = append(l.images, folderImage{path: p, class: class})
		default:
			l.ignored++
		}
	}
	return nil
}

func isImageName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false // .DS_Store, ._photo.jpg and other system files
	}
	return slices.Contains(ImageExts, strings.ToLower(filepath.Ext(name)))
}

// parallel runs fn(i) for i in [0, n) on GOMAXPROCS goroutines.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	var wg sync.WaitGroup
	var next int
	var mu sync.Mutex
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// readImageFile reads a whole image file, of at most raster.MaxBytes.
func readImageFile(p string) ([]byte, error) {
	f, err := openFile(p)
	if err != nil {
		return nil, errors.New(openProblem(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, raster.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %v", oserr.Cause(err))
	}
	if len(b) > raster.MaxBytes {
		return nil, fmt.Errorf("larger than the %d MiB an image may be", raster.MaxBytes>>20)
	}
	return b, nil
}

// headers reads every image's size and colour model from the start of its
// file, in parallel; decode reads the whole file (and checks its size).
func (l *listing) headers() {
	parallel(len(l.images), func(i int) {
		im := &l.images[i]
		f, err := openFile(im.path)
		if err != nil {
			im.bad = errors.New(openProblem(err))
			return
		}
		defer f.Close()
		cfg, _, err := raster.Header(bufio.NewReader(f))
		switch {
		case err != nil:
			im.bad = err
		default:
			im.w, im.h, im.grey = cfg.Width, cfg.Height, isGreyModel(cfg.ColorModel)
		}
	})
}

// isGreyModel reports whether images of colour model m are grey levels.
func isGreyModel(m color.Model) bool {
	switch m {
	case color.GrayModel, color.Gray16Model:
		return true
	}
	if p, ok := m.(color.Palette); ok {
		for _, c := range p {
			r, g, b, _ := c.RGBA()
			if r != g || g != b {
				return false
			}
		}
		return true
	}
	return false
}

// dropBad removes the images marked bad, counting them as skipped if skip,
// else returns the first one's error.
func (l *listing) dropBad(skip bool) error {
	kept := l.images[:0]
	for _, im := range l.images {
		if im.bad == nil {
			kept = append(kept, im)
			continue
		}
		if !skip {
			return imagesErr(im.path, im.bad, "%v (--skip-bad skips bad images)", im.bad)
		}
		l.skipped++
	}
	l.images = kept
	return nil
}

// decode decodes every image into d (already sized for them), in
// parallel, marking those that fail.
func (l *listing) decode(d *Dataset) {
	px := d.ImageLen()
	parallel(len(l.images), func(i int) {
		im := &l.images[i]
		b, err := readImageFile(im.path)
		if err != nil {
			im.bad = err
			return
		}
		img, format, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			im.bad = fmt.Errorf("bad %s image: %v", format, err)
			return
		}
		if err := raster.Pixels(d.Images[i*px:(i+1)*px], img, d.H, d.W, d.C); err != nil {
			im.bad = err
		}
	})
}

// size is an image size, rows × columns.
type size struct{ h, w int }

// mostCommon returns the most common size among the images (ties to the
// larger, then the taller) and the number of distinct sizes.
func mostCommon(sets ...*listing) (size, int) {
	count := map[size]int{}
	for _, l := range sets {
		for _, im := range l.images {
			count[size{im.h, im.w}]++
		}
	}
	var best size
	for s, n := range count {
		b := count[best]
		if n > b || n == b && (s.h*s.w > best.h*best.w || s.h*s.w == best.h*best.w && s.h > best.h) {
			best = s
		}
	}
	return best, len(count)
}

// loadFolder reads an image folder: DIR/train/<class>/* with
// DIR/test/<class>/* (or val/, validation/), or a single DIR/<class>/*
// tree split by o.ValSplit.
func loadFolder(dir string, o Options, src *Source) (train, test *Dataset, err error) {
	trainDir, testDir := "", ""
	if fi, err := os.Stat(filepath.Join(dir, "train")); err == nil && fi.IsDir() {
		trainDir = filepath.Join(dir, "train")
		for _, t := range testDirs {
			if fi, err := os.Stat(filepath.Join(dir, t)); err == nil && fi.IsDir() {
				testDir = filepath.Join(dir, t)
				break
			}
		}
	}
	tree := dir
	if trainDir != "" {
		tree = trainDir
	}
	classes, files, err := classDirs(tree)
	if err != nil {
		return nil, nil, err
	}
	if len(classes) == 0 {
		return nil, nil, imagesErr(tree, nil, "no class folders: put each class's images in a folder of its own, %s (%d files are directly in it)",
			filepath.Join(tree, "<class>", "image.png"), files)
	}
	if len(classes) > models.MaxClasses {
		return nil, nil, imagesErr(tree, nil, "%d class folders, more than the %d resgo's models can have", len(classes), models.MaxClasses)
	}
	src.Ignored += files
	trl, err := walkClasses(tree, classes, o.SkipBad)
	if err != nil {
		return nil, nil, err
	}
	tel := &listing{}
	if testDir != "" {
		tc, files, err := classDirs(testDir)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range tc {
			if !slices.Contains(classes, c) {
				return nil, nil, imagesErr(filepath.Join(testDir, c), nil, "class %q is not in %s (its classes: %s)", c, trainDir, strings.Join(classes, ", "))
			}
		}
		src.Ignored += files
		for ci, c := range classes {
			if !slices.Contains(tc, c) {
				continue
			}
			if err := tel.walk(filepath.Join(testDir, c), int32(ci), nil, o.SkipBad); err != nil {
				return nil, nil, err
			}
		}
		if len(tel.images) == 0 {
			return nil, nil, imagesErr(testDir, nil, "holds no images in its class folders")
		}
	}
	// Walking lists the pictures class by class. Shuffled once, with the
	// seed, as Keras's image_dataset_from_directory does: a shuffle buffer
	// smaller than the data set (tf.data's, the Loader's) only mixes
	// neighbours, and --train-limit takes the first images.
	rng := rand.New(rand.NewPCG(o.Seed, 0xf01de7))
	for _, l := range []*listing{trl, tel} {
		rng.Shuffle(len(l.images), func(i, j int) { l.images[i], l.images[j] = l.images[j], l.images[i] })
	}
	for _, l := range []*listing{trl, tel} {
		l.headers()
		if err := l.dropBad(o.SkipBad); err != nil {
			return nil, nil, err
		}
		src.Ignored += l.ignored
		src.Skipped += l.skipped
	}
	sz, sizes := mostCommon(trl, tel)
	src.Sizes = sizes
	if o.Height > 0 {
		sz = size{o.Height, o.Width}
	}
	c := o.Channels
	if c == 0 {
		c = 1
		for _, l := range []*listing{trl, tel} {
			for _, im := range l.images {
				if !im.grey {
					c = 3
				}
			}
		}
	}
	n := int64(len(trl.images) + len(tel.images))
	if err := checkMemory(dir, n*int64(sz.h*sz.w*c), o.maxBytes()); err != nil {
		return nil, nil, err
	}
	build := func(l *listing, name string) (*Dataset, error) {
		d := &Dataset{N: len(l.images), H: sz.h, W: sz.w, C: c, Classes: classes, ImagesFile: name,
			Images: make([]uint8, len(l.images)*sz.h*sz.w*c), Labels: make([]int32, len(l.images))}
		l.decode(d)
		px := d.ImageLen()
		k := 0
		for i, im := range l.images {
			if im.bad != nil {
				if !o.SkipBad {
					return nil, imagesErr(im.path, im.bad, "%v (--skip-bad skips bad images)", im.bad)
				}
				src.Skipped++
				continue
			}
			if im.h != sz.h || im.w != sz.w {
				src.Resized++
			}
			copy(d.Images[k*px:(k+1)*px], d.Images[i*px:(i+1)*px])
			d.Labels[k] = im.class
			k++
		}
		d.N, d.Images, d.Labels = k, d.Images[:k*px], d.Labels[:k]
		return d, nil
	}
	if train, err = build(trl, tree); err != nil {
		return nil, nil, err
	}
	if err := checkClassesPresent(train, tree); err != nil {
		return nil, nil, err
	}
	if testDir == "" {
		train, test, src.Split, err = SplitStratified(train, o.valSplit(), o.Seed)
		return train, test, err
	}
	if test, err = build(tel, testDir); err != nil {
		return nil, nil, err
	}
	if test.N == 0 {
		return nil, nil, imagesErr(testDir, nil, "none of its images could be read")
	}
	return train, test, nil
}

// checkClassesPresent returns an error if a class of d has no image (all
// its images were skipped as bad).
func checkClassesPresent(d *Dataset, dir string) error {
	count := make([]int, len(d.Classes))
	for _, l := range d.Labels {
		count[l]++
	}
	for c, n := range count {
		if n == 0 {
			return imagesErr(filepath.Join(dir, d.Classes[c]), nil, "class folder %q has no readable image", d.Classes[c])
		}
	}
	return nil
}
