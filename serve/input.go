package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"resgo/imageprep"
)

// prepareImage decodes a PNG, JPEG or GIF picture and prepares it as
// "resgo predict" does, into dst (28×28 values). The picture's size is read
// from its header and checked before it is decoded, so a small file that
// claims a huge picture is refused without allocating it.
func (s *Server) prepareImage(ctx context.Context, dst []float32, b []byte) error {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if errors.Is(err, image.ErrFormat) || (format != "png" && format != "jpeg" && format != "gif") {
		// Other decoders a program registers (TIFF, say) are refused too.
		return errorf(http.StatusUnsupportedMediaType, "not a PNG, JPEG or GIF image")
	}
	if err != nil {
		return errorf(http.StatusBadRequest, "bad image: %v", err)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > s.cfg.MaxPixels {
		return errorf(http.StatusRequestEntityTooLarge, "the %s image is %d×%d: more than %d pixels", format, cfg.Width, cfg.Height, s.cfg.MaxPixels)
	}
	// Decoding takes memory in proportion to the pixels: a few at a time.
	select {
	case s.decode <- struct{}{}:
		defer func() { <-s.decode }()
	case <-ctx.Done():
		return s.predictError(ctx, ctx.Err())
	}
	img, err := imageprep.Decode(bytes.NewReader(b))
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if err := imageprep.PrepareInto(dst, img); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	return nil
}

// imageBody returns the picture a :classify request carries: the body
// itself, or the first file of a multipart/form-data upload.
func (s *Server) imageBody(r *http.Request) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "multipart/form-data") {
		b, err := s.readBody(r)
		if err == nil && len(b) == 0 {
			err = errorf(http.StatusBadRequest, "the request has no body: send a PNG, JPEG or GIF picture")
		}
		return b, err
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "bad multipart body: %v", err)
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, errorf(http.StatusBadRequest, "the multipart body has no file: upload the picture as a file field")
		}
		if err != nil {
			return nil, s.multipartError(err)
		}
		if p.FileName() == "" && p.FormName() != "image" && p.FormName() != "file" {
			continue
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, s.multipartError(err)
		}
		return b, nil
	}
}

func (s *Server) multipartError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, errBodyMemory) {
		return s.bodyError(err)
	}
	return errorf(http.StatusBadRequest, "bad multipart body: %v", err)
}

// tensor is a numeric array read from JSON: its values as pixels, row-major,
// and its shape from the nesting of the arrays.
type tensor struct {
	data  []float32
	shape []int
}

// pixelConv checks a value read from JSON and converts it to a pixel, a
// grey level in [0, 1]; i is its index.
type pixelConv func(i int, v float64) (float32, error)

// pixelsOf returns the conversion of a datatype: FP32 values are grey
// levels in [0, 1] as they are, UINT8 values integers 0 to 255 divided by
// 255.
func pixelsOf(datatype string) (pixelConv, error) {
	switch datatype {
	case "FP32":
		return func(i int, v float64) (float32, error) {
			if !(v >= 0 && v <= 1) {
				return 0, fmt.Errorf("value %d is %v: FP32 pixels are grey levels in [0, 1], white digit on black (send 0-255 as UINT8)", i, v)
			}
			return float32(math.Abs(v)), nil // -0 is 0
		}, nil
	case "UINT8":
		return func(i int, v float64) (float32, error) {
			if v != math.Trunc(v) || v < 0 || v > 255 {
				return 0, fmt.Errorf("value %d is %v: UINT8 pixels are integers 0 to 255", i, v)
			}
			return float32(math.Abs(v)) / 255, nil // -0 is 0
		}, nil
	}
	return nil, fmt.Errorf("datatype %q is not supported: use FP32 (grey levels in [0, 1]) or UINT8 (0 to 255)", datatype)
}

// parseTensor reads a JSON number or nested arrays of numbers, flat or
// nested, checking that the arrays are not ragged and converting each value
// with conv. At most limit values are read. raw must be valid JSON (as
// json.Unmarshal leaves a json.RawMessage): the scan reads it byte by byte,
// with no allocation per value.
func parseTensor(raw []byte, limit int, conv pixelConv) (tensor, error) {
	var t tensor
	var counts []int // elements seen so far in each open array
	depth := 0
	// element counts an element (a number or an array) of the array open
	// at depth, and checks that the nesting is regular.
	element := func(isArray bool) error {
		if depth > 0 {
			counts[depth-1]++
		}
		switch {
		case isArray && depth == len(t.shape) && len(t.data) > 0,
			!isArray && depth != len(t.shape):
			return errors.New("ragged arrays: a number and an array at the same level")
		}
		return nil
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case ' ', '\t', '\n', '\r', ',':
		case '[':
			if err := element(true); err != nil {
				return t, err
			}
			if depth >= 8 {
				return t, errors.New("arrays nested too deep")
			}
			if depth == len(t.shape) {
				t.shape = append(t.shape, -1)
			}
			counts = append(counts[:depth], 0)
			depth++
		case ']':
			if depth == 0 {
				return t, errors.New("bad JSON: unbalanced ]")
			}
			depth--
			switch n := counts[depth]; {
			case t.shape[depth] == -1:
				t.shape[depth] = n
			case t.shape[depth] != n:
				return t, fmt.Errorf("ragged arrays: lengths %d and %d at depth %d", t.shape[depth], n, depth+1)
			}
		default:
			if c != '-' && (c < '0' || c > '9') {
				return t, errors.New("expected numbers or arrays of numbers")
			}
			j := i + 1
			for j < len(raw) && raw[j] != ',' && raw[j] != ']' && raw[j] != ' ' && raw[j] != '\n' && raw[j] != '\t' && raw[j] != '\r' {
				j++
			}
			v, err := strconv.ParseFloat(string(raw[i:j]), 64)
			if err != nil {
				return t, fmt.Errorf("bad number %q", raw[i:j])
			}
			if err := element(false); err != nil {
				return t, err
			}
			if len(t.data) >= limit {
				return t, fmt.Errorf("more than %d values", limit)
			}
			p, err := conv(len(t.data), v)
			if err != nil {
				return t, err
			}
			t.data = append(t.data, p)
			i = j - 1
		}
	}
	if depth != 0 {
		return t, errors.New("bad JSON: unclosed array")
	}
	for _, d := range t.shape {
		if d == 0 {
			return t, errors.New("an empty array")
		}
	}
	return t, nil
}

// imagesOf returns how many 28×28 images a shape holds: [N, 28, 28, 1],
// [N, 28, 28] or [N, 784] with batch true; [28, 28, 1], [28, 28] or [784]
// without.
func imagesOf(shape []int, batch bool) (int, error) {
	const s = imageprep.Size
	dims := shape
	n := 1
	if batch {
		if len(shape) == 0 || shape[0] < 1 {
			return 0, fmt.Errorf("shape %v: the first dimension is the batch", shape)
		}
		n, dims = shape[0], shape[1:]
	}
	switch {
	case len(dims) == 3 && dims[0] == s && dims[1] == s && dims[2] == 1,
		len(dims) == 2 && dims[0] == s && dims[1] == s,
		len(dims) == 1 && dims[0] == s*s:
		return n, nil
	}
	want := "[28, 28, 1], [28, 28] or [784]"
	if batch {
		want = "[N, 28, 28, 1], [N, 28, 28] or [N, 784]"
	}
	return 0, fmt.Errorf("shape %v is not %s", shape, want)
}
