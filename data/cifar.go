package data

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// CIFAR's binary format (https://www.cs.toronto.edu/~kriz/cifar.html): each
// record is the label byte(s) then 3,072 bytes of a 32×32 colour image,
// the red plane, then green, then blue, each row-major.
const (
	CIFARSide   = 32                        // images are CIFARSide×CIFARSide×3
	CIFARPixels = CIFARSide * CIFARSide * 3 // bytes of one image
	cifarPlane  = CIFARSide * CIFARSide     // bytes of one channel
	cifar10Rec  = 1 + CIFARPixels           // a CIFAR-10 record: label, image
	cifar100Rec = 2 + CIFARPixels           // a CIFAR-100 record: coarse and fine labels, image
)

// The files of CIFAR-10's and CIFAR-100's binary versions.
var (
	// CIFAR10TrainFiles are CIFAR-10's five training batches.
	CIFAR10TrainFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
)

const (
	CIFAR10TestFile   = "test_batch.bin"       // CIFAR-10's test batch
	CIFAR10MetaFile   = "batches.meta.txt"     // CIFAR-10's class names, one a line
	CIFAR100TrainFile = "train.bin"            // CIFAR-100's training set
	CIFAR100TestFile  = "test.bin"             // CIFAR-100's test set
	CIFAR100MetaFile  = "fine_label_names.txt" // CIFAR-100's fine class names
	CIFAR10Archive    = "cifar-10-binary.tar.gz"
	CIFAR100Archive   = "cifar-100-binary.tar.gz"
)

// CIFARKind says which of the two CIFAR layouts a file has.
type CIFARKind int

// The CIFAR layouts.
const (
	CIFAR10  CIFARKind = 10  // one label byte, 10 classes
	CIFAR100 CIFARKind = 100 // a coarse and a fine label byte; the fine label, 100 classes, is used
)

func (k CIFARKind) record() int {
	if k == CIFAR100 {
		return cifar100Rec
	}
	return cifar10Rec
}

func cifarErr(name string, err error, format string, args ...any) error {
	return &FormatError{Format: "cifar", File: name, Problem: fmt.Sprintf(format, args...), Err: err}
}

// ReadCIFAR decodes a CIFAR binary batch b (the whole file) of the given
// kind into images, N×32×32×3 (NHWC, converted from CIFAR's planes), and
// labels, each checked to be below the kind's class count. name is used
// only in errors. A file that is empty or not a whole number of records
// (a truncated download) is an error.
func ReadCIFAR(name string, b []byte, kind CIFARKind) (images []uint8, labels []int32, err error) {
	rec := kind.record()
	switch {
	case len(b) == 0:
		return nil, nil, cifarErr(name, nil, "empty file: no records")
	case len(b)%rec != 0:
		return nil, nil, cifarErr(name, nil, "truncated: %d bytes is not a whole number of %d-byte CIFAR-%d records (%d whole, then %d bytes)",
			len(b), rec, int(kind), len(b)/rec, len(b)%rec)
	}
	n := len(b) / rec
	images = make([]uint8, n*CIFARPixels)
	labels = make([]int32, n)
	for i := range n {
		r := b[i*rec : (i+1)*rec]
		l := r[rec-CIFARPixels-1] // CIFAR-100: the fine label, the second byte
		if int(l) >= int(kind) {
			return nil, nil, cifarErr(name, nil, "record %d has label %d, above %d (CIFAR-%d has %d classes)", i, l, int(kind)-1, int(kind), int(kind))
		}
		labels[i] = int32(l)
		px := r[rec-CIFARPixels:]
		out := images[i*CIFARPixels : (i+1)*CIFARPixels]
		for p := range cifarPlane {
			out[3*p] = px[p]
			out[3*p+1] = px[cifarPlane+p]
			out[3*p+2] = px[2*cifarPlane+p]
		}
	}
	return images, labels, nil
}

// cifarFiles are the files of a CIFAR layout, read by name through read.
type cifarFiles struct {
	kind   CIFARKind
	train  []string
	test   string
	meta   string
	prefix string // where the files are, for messages
}

func cifarLayout(kind CIFARKind) cifarFiles {
	if kind == CIFAR100 {
		return cifarFiles{kind: kind, train: []string{CIFAR100TrainFile}, test: CIFAR100TestFile, meta: CIFAR100MetaFile}
	}
	return cifarFiles{kind: kind, train: CIFAR10TrainFiles, test: CIFAR10TestFile, meta: CIFAR10MetaFile}
}

// load reads the layout's files through read (which returns the file's
// bytes, the name to use in messages, or an error that names the file; a
// missing meta file gives fs.ErrNotExist) and builds the two Datasets.
func (c cifarFiles) load(read func(name string) ([]byte, string, error)) (train, test *Dataset, err error) {
	classes := make([]string, int(c.kind))
	for i := range classes {
		classes[i] = strconv.Itoa(i)
	}
	if b, name, err := read(c.meta); err == nil {
		names := metaNames(b)
		if len(names) != len(classes) {
			return nil, nil, cifarErr(name, nil, "%d class names, but CIFAR-%d has %d classes", len(names), int(c.kind), len(classes))
		}
		classes = names
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	set := func(files []string) (*Dataset, error) {
		d := &Dataset{H: CIFARSide, W: CIFARSide, C: 3, Classes: classes}
		for _, f := range files {
			b, name, err := read(f)
			if err != nil {
				return nil, err
			}
			img, lab, err := ReadCIFAR(name, b, c.kind)
			if err != nil {
				return nil, err
			}
			if d.ImagesFile == "" {
				d.ImagesFile = name
			}
			d.Images = append(d.Images, img...)
			d.Labels = append(d.Labels, lab...)
		}
		d.N = len(d.Labels)
		return d, nil
	}
	if train, err = set(c.train); err != nil {
		return nil, nil, err
	}
	if test, err = set([]string{c.test}); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// metaNames returns the non-empty lines of a class-name file, trimmed.
func metaNames(b []byte) []string {
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	return names
}

// loadCIFARDir reads a CIFAR binary folder of the given kind, checking the
// total size against limit first.
func loadCIFARDir(dir string, kind CIFARKind, limit int64) (train, test *Dataset, err error) {
	c := cifarLayout(kind)
	var total int64
	for _, f := range append(append([]string{}, c.train...), c.test) {
		p := filepath.Join(dir, f)
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, cifarErr(p, err, "%s", openProblem(err))
		}
		total += fi.Size()
	}
	if err := checkMemory(dir, total/int64(kind.record())*CIFARPixels, limit); err != nil {
		return nil, nil, err
	}
	return c.load(func(name string) ([]byte, string, error) {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, p, err
			}
			return nil, p, cifarErr(p, err, "%s", openProblem(err))
		}
		return b, p, nil
	})
}

// loadCIFARArchive reads cifar-10-binary.tar.gz or cifar-100-binary.tar.gz
// as published, without unpacking it to disk: the members are found by
// their base names. kind 0 tells the kind from the members.
func loadCIFARArchive(file string, limit int64) (train, test *Dataset, kind CIFARKind, err error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, 0, cifarErr(file, err, "%s", openProblem(err))
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, nil, 0, streamErrAs("cifar", file, true, err, "reading the gzip header")
	}
	tr := tar.NewReader(zr)
	members := map[string][]byte{}
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, 0, streamErrAs("cifar", file, true, err, "reading the tar archive")
		}
		base := path.Base(h.Name)
		if h.Typeflag != tar.TypeReg || !cifarMember(base) {
			continue
		}
		total += h.Size
		if h.Size < 0 || total/int64(cifar10Rec)*CIFARPixels > limit {
			return nil, nil, 0, checkMemory(file, total/int64(cifar10Rec)*CIFARPixels, limit)
		}
		var b bytes.Buffer
		if _, err := io.CopyN(&b, tr, h.Size); err != nil {
			return nil, nil, 0, streamErrAs("cifar", file, true, err, "reading "+h.Name)
		}
		members[base] = b.Bytes()
	}
	kind = CIFAR10
	if _, ok := members[CIFAR100TrainFile]; ok {
		kind = CIFAR100
	}
	train, test, err = cifarLayout(kind).load(func(name string) ([]byte, string, error) {
		b, ok := members[name]
		member := file + ":" + name
		if !ok {
			if name == CIFAR10MetaFile || name == CIFAR100MetaFile {
				return nil, member, fs.ErrNotExist
			}
			return nil, member, cifarErr(file, fs.ErrNotExist, "the archive holds no %s", name)
		}
		return b, member, nil
	})
	return train, test, kind, err
}

// cifarMember reports whether an archive member's base name is one of the
// files the CIFAR readers use.
func cifarMember(base string) bool {
	switch base {
	case CIFAR10TestFile, CIFAR10MetaFile, CIFAR100TrainFile, CIFAR100TestFile, CIFAR100MetaFile:
		return true
	}
	for _, f := range CIFAR10TrainFiles {
		if base == f {
			return true
		}
	}
	return false
}
