package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"resgo/checkpoint"
	"resgo/imageprep"
	"resgo/models"
)

// digits are testdata/digits' pictures and their classes.
var digits = []struct {
	file  string
	class int
}{{"one.png", 1}, {"seven.png", 7}, {"two.png", 2}}

// testCheckpoint copies the trained model into a temporary folder, so that
// a test may overwrite it.
func testCheckpoint(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/mnist-resnet.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "best.safetensors")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// newTest starts a server of the trained model, named "mnist", on a
// loopback port.
func newTest(t *testing.T, cfg Config) (*Server, *httptest.Server, string) {
	t.Helper()
	path := testCheckpoint(t)
	s, err := New(cfg, []ModelSpec{{Name: "mnist", Path: path}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts, path
}

// call makes a request and returns the status and the body, which must be
// JSON when the route answers JSON.
func call(t *testing.T, method, url, contentType string, body []byte) (int, map[string]any) {
	t.Helper()
	code, raw := callRaw(t, method, url, contentType, body)
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s %s: %d, body not a JSON object: %v: %.200s", method, url, code, err, raw)
	}
	return code, v
}

func callRaw(t *testing.T, method, url, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// wantError checks an error answer: its status and a message containing want.
func wantError(t *testing.T, code int, v map[string]any, wantCode int, want string) {
	t.Helper()
	msg, _ := v["error"].(string)
	if code != wantCode || !strings.Contains(msg, want) {
		t.Errorf("got %d %q, want %d with %q", code, msg, wantCode, want)
	}
}

func readDigit(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../testdata/digits", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// preparedDigits returns the digits prepared, 28×28 each, and their classes.
func preparedDigits(t *testing.T) ([][]float32, []int) {
	t.Helper()
	var px [][]float32
	var classes []int
	for _, d := range digits {
		img, err := imageprep.DecodeFile(filepath.Join("../testdata/digits", d.file))
		if err != nil {
			t.Fatal(err)
		}
		p, err := imageprep.Prepare(img)
		if err != nil {
			t.Fatal(err)
		}
		px = append(px, p)
		classes = append(classes, d.class)
	}
	return px, classes
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHealthAndMetadata(t *testing.T) {
	s, ts, path := newTest(t, Config{Version: "v-test"})
	for _, p := range []string{"/v2/health/live", "/v2/health/ready", "/v2/models/mnist/ready", "/v2/models/mnist/versions/1/ready"} {
		if code, _ := call(t, "GET", ts.URL+p, "", nil); code != 200 {
			t.Errorf("GET %s: %d, want 200", p, code)
		}
	}
	code, v := call(t, "GET", ts.URL+"/v2", "", nil)
	if code != 200 || v["name"] != "resgo" || v["version"] != "v-test" || v["extensions"] == nil {
		t.Errorf("server metadata: %d %v", code, v)
	}
	code, v = call(t, "GET", ts.URL+"/v2/models/mnist", "", nil)
	if code != 200 || v["name"] != "mnist" || v["platform"] != "resgo" {
		t.Fatalf("model metadata: %d %v", code, v)
	}
	in := v["inputs"].([]any)[0].(map[string]any)
	if in["name"] != "image" || in["datatype"] != "FP32" || fmt.Sprint(in["shape"]) != "[-1 28 28 1]" {
		t.Errorf("input: %v", in)
	}
	var outs []string
	for _, o := range v["outputs"].([]any) {
		o := o.(map[string]any)
		outs = append(outs, fmt.Sprintf("%v %v %v", o["name"], o["datatype"], o["shape"]))
	}
	if got := strings.Join(outs, "; "); got != "probabilities FP32 [-1 10]; class INT64 [-1]; label BYTES [-1]" {
		t.Errorf("outputs: %s", got)
	}
	params := v["parameters"].(map[string]any)
	if params["epoch"] != 2.0 || params["test_accuracy"] != 0.9882 || params["architecture"] != "resnet" {
		t.Errorf("parameters: %v (the test checkpoint is 2 epochs, 98.82%%)", params)
	}
	code, v = call(t, "GET", ts.URL+"/v1/models/mnist", "", nil)
	st := v["model_version_status"].([]any)[0].(map[string]any)
	if code != 200 || st["state"] != "AVAILABLE" || st["version"] != "1" {
		t.Errorf("TF Serving status: %d %v", code, v)
	}
	code, raw := callRaw(t, "POST", ts.URL+"/v2/repository/index", "", nil)
	if code != 200 || !strings.Contains(string(raw), `"name":"mnist"`) || !strings.Contains(string(raw), `"READY"`) {
		t.Errorf("repository index: %d %s", code, raw)
	}
	_ = path
	s.SetDraining()
	if code, v := call(t, "GET", ts.URL+"/v2/health/ready", "", nil); code != 503 || v["ready"] != false {
		t.Errorf("ready while draining: %d %v, want 503", code, v)
	}
	resp, err := http.Get(ts.URL + "/v2/health/live")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("live while draining: %d, Connection: close %v; want 200 and the connection closed", resp.StatusCode, resp.Close)
	}
}

func TestNotFound(t *testing.T) {
	_, ts, _ := newTest(t, Config{})
	for _, c := range []struct{ method, path string }{
		{"GET", "/v2/models/nope"},
		{"GET", "/v2/models/nope/ready"},
		{"POST", "/v2/models/nope/infer"},
		{"GET", "/v2/models/mnist/versions/2"},
		{"GET", "/v1/models/nope"},
		{"POST", "/v1/models/nope:predict"},
		{"POST", "/v1/models/nope:classify"},
		{"POST", "/v1/models/mnist:explain"},
		{"POST", "/v1/models/mnist"},
		{"GET", "/v1/models/nope/metadata"},
		{"GET", "/v1/models/mnist/versions/2"},
		{"GET", "/v1/models/mnist/versions/2/metadata"},
		{"POST", "/v1/models/mnist/versions/2:predict"},
		{"POST", "/v1/models/mnist/versions/:predict"},
		{"POST", "/v2/repository/models/nope/load"},
		{"GET", "/nowhere"},
		{"GET", "/page/nothing.js"},
	} {
		code, v := call(t, c.method, ts.URL+c.path, "", []byte("{}"))
		if code != 404 || v["error"] == "" {
			t.Errorf("%s %s: %d %v, want 404 with an error", c.method, c.path, code, v)
		}
	}
	code, v := call(t, "GET", ts.URL+"/v2/models/nope", "", nil)
	wantError(t, code, v, 404, `no model named "nope" (serving: mnist)`)
	code, v = call(t, "DELETE", ts.URL+"/v2/models/mnist/infer", "", nil)
	wantError(t, code, v, 405, "DELETE is not allowed")
}

// inferBody is a v2 inference request for the images.
func inferBody(t *testing.T, datatype string, shape []int, data any, extra map[string]any) []byte {
	req := map[string]any{"inputs": []any{map[string]any{"name": "image", "shape": shape, "datatype": datatype, "data": data}}}
	for k, v := range extra {
		req[k] = v
	}
	return mustJSON(t, req)
}

func TestInfer(t *testing.T) {
	_, ts, _ := newTest(t, Config{})
	px, classes := preparedDigits(t)
	var flat []float32
	var u8 []int
	for _, p := range px {
		flat = append(flat, p...)
		for _, v := range p {
			u8 = append(u8, int(math.Round(float64(v)*255)))
		}
	}
	n := len(px)
	// Nested: [n][28][28][1].
	nested := make([][][][]float32, n)
	for i := range nested {
		nested[i] = make([][][]float32, 28)
		for y := range 28 {
			nested[i][y] = make([][]float32, 28)
			for x := range 28 {
				nested[i][y][x] = []float32{px[i][y*28+x]}
			}
		}
	}
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"FP32 flat", inferBody(t, "FP32", []int{n, 28, 28, 1}, flat, map[string]any{"id": "req-1"})},
		{"FP32 nested", inferBody(t, "FP32", []int{n, 28, 28, 1}, nested, map[string]any{"id": "req-1"})},
		{"FP32 [N,784]", inferBody(t, "FP32", []int{n, 784}, flat, map[string]any{"id": "req-1"})},
		{"UINT8 [N,28,28]", inferBody(t, "UINT8", []int{n, 28, 28}, u8, map[string]any{"id": "req-1"})},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, v := call(t, "POST", ts.URL+"/v2/models/mnist/infer", "application/json", c.body)
			if code != 200 {
				t.Fatalf("%d %v", code, v)
			}
			if v["model_name"] != "mnist" || v["id"] != "req-1" {
				t.Errorf("model_name %v, id %v", v["model_name"], v["id"])
			}
			outs := map[string]map[string]any{}
			for _, o := range v["outputs"].([]any) {
				o := o.(map[string]any)
				outs[o["name"].(string)] = o
			}
			probs, cls, lbl := outs["probabilities"], outs["class"], outs["label"]
			if fmt.Sprintf("%v %v", probs["shape"], probs["datatype"]) != fmt.Sprintf("[%d 10] FP32", n) ||
				fmt.Sprintf("%v %v", cls["shape"], cls["datatype"]) != fmt.Sprintf("[%d] INT64", n) ||
				fmt.Sprintf("%v %v", lbl["shape"], lbl["datatype"]) != fmt.Sprintf("[%d] BYTES", n) {
				t.Fatalf("outputs: %v", outs)
			}
			p := probs["data"].([]any)
			for i, want := range classes {
				if got := cls["data"].([]any)[i]; got != float64(want) {
					t.Errorf("image %d: class %v, want %d", i, got, want)
				}
				if got := lbl["data"].([]any)[i]; got != fmt.Sprint(want) {
					t.Errorf("image %d: label %v, want %q", i, got, fmt.Sprint(want))
				}
				sum := 0.0
				for k := range 10 {
					sum += p[i*10+k].(float64)
				}
				if pw := p[i*10+want].(float64); math.Abs(sum-1) > 1e-4 || pw < 0.9 {
					t.Errorf("image %d: probabilities sum to %v, p(%d) = %v", i, sum, want, pw)
				}
			}
		})
	}
	// Only the outputs asked for.
	code, v := call(t, "POST", ts.URL+"/v2/models/mnist/versions/1/infer", "",
		inferBody(t, "FP32", []int{n, 784}, flat, map[string]any{"outputs": []any{map[string]any{"name": "class"}}}))
	if outs := v["outputs"].([]any); code != 200 || len(outs) != 1 || fmt.Sprint(outs[0].(map[string]any)["data"]) != "[1 7 2]" {
		t.Errorf("outputs [class]: %d %v", code, v)
	}
	// BYTES: pictures in base64 (URL-safe and unpadded too).
	var pics []string
	for i, d := range digits {
		enc := base64.StdEncoding
		if i == 1 {
			enc = base64.RawURLEncoding
		}
		pics = append(pics, enc.EncodeToString(readDigit(t, d.file)))
	}
	code, v = call(t, "POST", ts.URL+"/v2/models/mnist/infer", "",
		inferBody(t, "BYTES", []int{3}, pics, map[string]any{"outputs": []any{map[string]any{"name": "label"}}}))
	if outs, _ := v["outputs"].([]any); code != 200 || len(outs) != 1 || fmt.Sprint(outs[0].(map[string]any)["data"]) != "[1 7 2]" {
		t.Errorf("BYTES pictures: %d %v", code, v)
	}
}

func TestInferErrors(t *testing.T) {
	_, ts, _ := newTest(t, Config{MaxBody: 1 << 20})
	url := ts.URL + "/v2/models/mnist/infer"
	zeros := make([]float32, 784)
	for _, c := range []struct {
		name string
		body []byte
		code int
		want string
	}{
		{"not JSON", []byte("image=7"), 400, "not an inference request"},
		{"empty", nil, 400, "not an inference request"},
		{"inputs not an array", []byte(`{"inputs": 3}`), 400, `field "inputs" must be a JSON array`},
		{"no input", []byte(`{"inputs": []}`), 400, `expected 1 input tensor "image", got 0`},
		{"wrong input name", []byte(`{"inputs": [{"name": "x", "shape": [1, 784], "datatype": "FP32", "data": [0]}]}`), 400, `unknown input "x"`},
		{"wrong datatype", inferBody(t, "INT32", []int{1, 784}, zeros, nil), 400, `datatype "INT32" is not supported`},
		{"wrong shape", inferBody(t, "FP32", []int{1, 32, 32, 1}, zeros, nil), 400, "shape [1 32 32 1] is not [N, 28, 28, 1]"},
		{"no batch", inferBody(t, "FP32", []int{784}, zeros, nil), 400, "is not [N, 28, 28, 1]"},
		{"zero batch", inferBody(t, "FP32", []int{0, 784}, zeros, nil), 400, "the first dimension is the batch"},
		{"too little data", inferBody(t, "FP32", []int{2, 784}, zeros, nil), 400, "shape [2 784] holds 1568 values, data has 784"},
		{"too much data", inferBody(t, "FP32", []int{1, 784}, append(zeros, 0), nil), 400, "more than 784 values"},
		{"no data", []byte(`{"inputs": [{"name": "image", "shape": [1, 784], "datatype": "FP32"}]}`), 400, "has no data"},
		{"strings", inferBody(t, "FP32", []int{1, 1}, []string{"a"}, nil), 400, "is not [N, 28, 28, 1]"},
		{"string data", []byte(`{"inputs": [{"name": "image", "shape": [1, 784], "datatype": "FP32", "data": ["a"]}]}`), 400, "expected numbers"},
		{"ragged", []byte(`{"inputs": [{"name": "image", "shape": [1, 784], "datatype": "FP32", "data": [[0], 0]}]}`), 400, "ragged"},
		{"out of range", inferBody(t, "FP32", []int{1, 784}, append([]float32{255}, zeros[1:]...), nil), 400, "value 0 is 255: FP32 pixels are grey levels in [0, 1]"},
		{"UINT8 fraction", inferBody(t, "UINT8", []int{1, 784}, append([]float32{0.5}, zeros[1:]...), nil), 400, "UINT8 pixels are integers 0 to 255"},
		{"unknown output", inferBody(t, "FP32", []int{1, 784}, zeros, map[string]any{"outputs": []any{map[string]any{"name": "logits"}}}), 400, `unknown output "logits"`},
		{"BYTES shape", inferBody(t, "BYTES", []int{1, 28}, []string{"x"}, nil), 400, "BYTES holds pictures, one per element: shape [N]"},
		{"BYTES count", inferBody(t, "BYTES", []int{2}, []string{"aGVsbG8="}, nil), 400, "shape [2] holds 2 pictures, data has 1"},
		{"BYTES numbers", inferBody(t, "BYTES", []int{1}, []int{1}, nil), 400, "array of base64 strings"},
		{"BYTES not base64", inferBody(t, "BYTES", []int{1}, []string{"%%"}, nil), 400, "picture 0: not base64"},
		{"BYTES text", inferBody(t, "BYTES", []int{1}, []string{"aGVsbG8="}, nil), 415, "picture 0: not a PNG, JPEG or GIF"},
		{"BYTES bomb", inferBody(t, "BYTES", []int{1}, []string{base64.StdEncoding.EncodeToString(pngHeader(50000, 50000))}, nil), 413, "50000×50000"},
		{"too large", inferBody(t, "FP32", []int{1000, 784}, make([]float32, 1000*784), nil), 413, "larger than 1048576 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, v := call(t, "POST", url, "application/json", c.body)
			wantError(t, code, v, c.code, c.want)
		})
	}
}

// pngHeader is a PNG that claims w×h pixels: a signature and an IHDR
// chunk, with no pixels.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA: 4 bytes a pixel
	chunk("IHDR", ihdr)
	chunk("IEND", nil)
	return b.Bytes()
}

func multipartBody(t *testing.T, field, file string, content []byte) ([]byte, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("note", "a form field before the file")
	if field != "" {
		fw, err := mw.CreateFormFile(field, file)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(content)
	}
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

func TestClassify(t *testing.T) {
	_, ts, _ := newTest(t, Config{})
	url := ts.URL + "/v1/models/mnist:classify"
	for _, d := range digits {
		img := readDigit(t, d.file)
		mp, ct := multipartBody(t, "image", d.file, img)
		for _, c := range []struct {
			how, ct string
			body    []byte
		}{{"raw", "image/png", img}, {"raw, no type", "", img}, {"multipart", ct, mp}} {
			code, v := call(t, "POST", url, c.ct, c.body)
			if code != 200 || v["class"] != float64(d.class) || v["label"] != fmt.Sprint(d.class) || v["model_name"] != "mnist" {
				t.Errorf("%s %s: %d %v", d.file, c.how, code, v)
				continue
			}
			top := v["top"].([]any)
			if len(top) != 3 || top[0].(map[string]any)["class"] != float64(d.class) || len(v["probabilities"].([]any)) != 10 {
				t.Errorf("%s %s: top %v", d.file, c.how, top)
			}
		}
	}
	// The same answer as "resgo predict" gives: the image prepared by
	// imageprep, then the model (here through the v2 route).
	px, _ := preparedDigits(t)
	_, v := call(t, "POST", url+"?input=1", "image/png", readDigit(t, "seven.png"))
	in, _ := v["input"].([]any)
	if len(in) != 784 {
		t.Fatalf("?input=1: %d values, want 784", len(in))
	}
	for i, p := range in {
		if float32(p.(float64)) != px[1][i] {
			t.Fatalf("?input=1: value %d is %v, imageprep gives %v", i, p, px[1][i])
		}
	}
	_, v2 := call(t, "POST", ts.URL+"/v2/models/mnist/infer", "", inferBody(t, "FP32", []int{1, 784}, px[1], nil))
	_, v1 := call(t, "POST", url, "image/png", readDigit(t, "seven.png"))
	p2 := v2["outputs"].([]any)[0].(map[string]any)["data"].([]any)
	for k, p := range v1["probabilities"].([]any) {
		if math.Abs(p.(float64)-p2[k].(float64)) > 1e-6 {
			t.Errorf("class %d: :classify %v, infer of the prepared image %v", k, p, p2[k])
		}
	}
}

func TestClassifyErrors(t *testing.T) {
	_, ts, _ := newTest(t, Config{MaxBody: 1 << 20, MaxPixels: 4 << 20})
	url := ts.URL + "/v1/models/mnist:classify"
	noFile, noFileCT := multipartBody(t, "", "", nil)
	blank := pngOf(t, 40, 40)
	for _, c := range []struct {
		name, ct string
		body     []byte
		code     int
		want     string
	}{
		{"empty", "image/png", nil, 400, "no body"},
		{"text", "text/plain", []byte("seven"), 415, "not a PNG, JPEG or GIF"},
		{"truncated PNG", "image/png", readDigit(t, "seven.png")[:40], 400, "bad"},
		{"image bomb", "image/png", pngHeader(50000, 50000), 413, "50000×50000: more than 4194304 pixels"},
		{"too large body", "image/png", make([]byte, 2<<20), 413, "larger than 1048576 bytes"},
		{"blank", "image/png", blank, 400, "no digit found"},
		{"multipart without file", noFileCT, noFile, 400, "no file"},
		{"bad multipart", "multipart/form-data; boundary=x", []byte("garbage"), 400, "bad multipart"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, v := call(t, "POST", url, c.ct, c.body)
			wantError(t, code, v, c.code, c.want)
		})
	}
}

func TestPredict(t *testing.T) {
	_, ts, _ := newTest(t, Config{})
	url := ts.URL + "/v1/models/mnist:predict"
	px, classes := preparedDigits(t)
	grid := func(p []float32) [][]float32 {
		g := make([][]float32, 28)
		for y := range g {
			g[y] = p[y*28 : (y+1)*28]
		}
		return g
	}
	b64 := base64.StdEncoding.EncodeToString(readDigit(t, "two.png"))
	body := mustJSON(t, map[string]any{"signature_name": "serving_default", "instances": []any{
		grid(px[0]),                    // [28][28]
		map[string]any{"image": px[1]}, // [784] under the input's name
		map[string]any{"b64": b64},     // a picture
	}})
	code, v := call(t, "POST", url, "application/json", body)
	if code != 200 {
		t.Fatalf("%d %v", code, v)
	}
	preds := v["predictions"].([]any)
	if len(preds) != 3 {
		t.Fatalf("%d predictions, want 3", len(preds))
	}
	for i, p := range preds {
		p := p.(map[string]any)
		if p["class"] != float64(classes[i]) || p["label"] != fmt.Sprint(classes[i]) || len(p["probabilities"].([]any)) != 10 {
			t.Errorf("instance %d: %v, want class %d", i, p, classes[i])
		}
	}
	for _, c := range []struct {
		name string
		body string
		code int
		want string
	}{
		{"not JSON", "<xml/>", 400, "not a predict request"},
		{"no instances", `{"instances": []}`, 400, "at least one instance"},
		{"both formats", `{"instances": [[0]], "inputs": [[0]]}`, 400, `"instances" (the row format) or "inputs" (the columnar format), not both`},
		{"other signature", `{"signature_name": "classify", "instances": [[0]]}`, 400, `no signature "classify": the model's only signature is "serving_default"`},
		{"instances not a list", `{"instances": {"image": [0]}}`, 400, "at least one instance"},
		{"wrong shape", `{"instances": [[0, 0, 0]]}`, 400, "instance 0: shape [3] is not [28, 28, 1], [28, 28] or [784]"},
		{"bad b64", `{"instances": [{"b64": "%%%"}]}`, 400, "instance 0: \"b64\": not base64"},
		{"b64 text", `{"instances": [{"b64": "aGVsbG8="}]}`, 415, "instance 0: not a PNG, JPEG or GIF"},
		{"b64 bomb", fmt.Sprintf(`{"instances": [{"b64": %q}]}`, base64.StdEncoding.EncodeToString(pngHeader(50000, 50000))), 413, "instance 0: the png image is 50000×50000"},
		{"other object", `{"instances": [{"pixels": []}]}`, 400, `expected an array of grey levels`},
		{"number", `{"instances": [0.5]}`, 400, "shape [] is not"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, v := call(t, "POST", url, "application/json", []byte(c.body))
			wantError(t, code, v, c.code, c.want)
		})
	}
}

// TestPredictColumnar sends TensorFlow Serving's columnar format, the
// batch as one list, by itself or under the input's name: each image gets
// its class, in a list per output.
func TestPredictColumnar(t *testing.T) {
	_, ts, _ := newTest(t, Config{})
	px, classes := preparedDigits(t)
	b64 := base64.StdEncoding.EncodeToString(readDigit(t, "two.png"))
	batch := []any{px[0], px[1], map[string]any{"b64": b64}}
	for _, c := range []struct {
		name string
		url  string
		body any
	}{
		{"list", "/v1/models/mnist:predict", map[string]any{"inputs": batch}},
		{"named", "/v1/models/mnist:predict", map[string]any{"signature_name": "serving_default", "inputs": map[string]any{"image": batch}}},
		{"version", "/v1/models/mnist/versions/1:predict", map[string]any{"inputs": batch}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, v := call(t, "POST", ts.URL+c.url, "application/json", mustJSON(t, c.body))
			if code != 200 || v["predictions"] != nil {
				t.Fatalf("%d %v", code, v)
			}
			out := v["outputs"].(map[string]any)
			probs, cls, lbl := out["probabilities"].([]any), out["class"].([]any), out["label"].([]any)
			if len(probs) != 3 || len(cls) != 3 || len(lbl) != 3 || len(out) != 3 {
				t.Fatalf("outputs %v, want probabilities, class and label for 3 images", out)
			}
			for i := range 3 {
				if cls[i] != float64(classes[i]) || lbl[i] != fmt.Sprint(classes[i]) || len(probs[i].([]any)) != 10 {
					t.Errorf("image %d: class %v, label %v, %d probabilities; want class %d", i, cls[i], lbl[i], len(probs[i].([]any)), classes[i])
				}
			}
		})
	}
	url := ts.URL + "/v1/models/mnist:predict"
	for _, c := range []struct {
		name string
		body string
		code int
		want string
	}{
		{"empty", `{"inputs": []}`, 400, `expected {"inputs": [...]} or {"inputs": {"image": [...]}}, a batch of at least one image`},
		{"one image, no batch", `{"inputs": {"b64": "aGVsbG8="}}`, 400, `"inputs": unknown input "b64": the model's only input is "image"`},
		{"other input", `{"inputs": {"image": [[0]], "mask": [[1]]}}`, 400, `unknown input "mask"`},
		{"no image", `{"inputs": {}}`, 400, `"inputs": no input "image"`},
		{"not a tensor", `{"inputs": "x"}`, 400, "a batch of at least one image"},
		{"named instance", `{"inputs": [{"image": [0]}]}`, 400, `instance 0: expected an array of grey levels or {"b64": "..."}`},
		{"wrong shape", `{"inputs": [[0, 0, 0]]}`, 400, "instance 0: shape [3] is not"},
		{"b64 text", `{"inputs": {"image": [{"b64": "aGVsbG8="}]}}`, 415, "instance 0: not a PNG, JPEG or GIF"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, v := call(t, "POST", url, "application/json", []byte(c.body))
			wantError(t, code, v, c.code, c.want)
		})
	}
}

// TestTFMetadata checks TensorFlow Serving's model metadata: the default
// signature's tensors with their types and shapes, and the model's name
// and version.
func TestTFMetadata(t *testing.T) {
	_, ts, _ := newTest(t, Config{})
	for _, path := range []string{"/v1/models/mnist/metadata", "/v1/models/mnist/versions/1/metadata"} {
		code, raw := callRaw(t, "GET", ts.URL+path, "", nil)
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, raw)
		}
		type tensor struct {
			Dtype string `json:"dtype"`
			Shape struct {
				Dim []struct {
					Size string `json:"size"`
				} `json:"dim"`
				UnknownRank bool `json:"unknown_rank"`
			} `json:"tensor_shape"`
			Name string `json:"name"`
		}
		var v struct {
			ModelSpec struct{ Name, Version string } `json:"model_spec"`
			Metadata  struct {
				SignatureDef struct {
					SignatureDef map[string]struct {
						Inputs     map[string]tensor `json:"inputs"`
						Outputs    map[string]tensor `json:"outputs"`
						MethodName string            `json:"method_name"`
					} `json:"signature_def"`
				} `json:"signature_def"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		if v.ModelSpec.Name != "mnist" || v.ModelSpec.Version != "1" {
			t.Errorf("%s: model_spec %+v", path, v.ModelSpec)
		}
		sig, ok := v.Metadata.SignatureDef.SignatureDef["serving_default"]
		if !ok || len(v.Metadata.SignatureDef.SignatureDef) != 1 || sig.MethodName != "tensorflow/serving/predict" {
			t.Fatalf("%s: signatures %s", path, raw)
		}
		describe := func(ts map[string]tensor) string {
			var out []string
			for name, t := range ts {
				var dims []string
				for _, d := range t.Shape.Dim {
					dims = append(dims, d.Size)
				}
				out = append(out, fmt.Sprintf("%s %s [%s] %v", name, t.Dtype, strings.Join(dims, " "), t.Shape.UnknownRank))
			}
			slices.Sort(out)
			return strings.Join(out, "; ")
		}
		if got := describe(sig.Inputs); got != "image DT_FLOAT [-1 28 28 1] false" {
			t.Errorf("%s: inputs %s", path, got)
		}
		if got := describe(sig.Outputs); got != "class DT_INT64 [-1] false; label DT_STRING [-1] false; probabilities DT_FLOAT [-1 10] false" {
			t.Errorf("%s: outputs %s", path, got)
		}
	}
	code, v := call(t, "GET", ts.URL+"/v1/models/mnist/versions/1", "", nil)
	if code != 200 || v["model_version_status"] == nil {
		t.Errorf("TF Serving status of version 1: %d %v", code, v)
	}
	code, v = call(t, "POST", ts.URL+"/v1/models/mnist/versions/1:classify", "image/png", readDigit(t, "seven.png"))
	if code != 200 || v["class"] != 7.0 {
		t.Errorf(":classify of version 1: %d %v", code, v)
	}
}

// TestBatching queues jobs before the batcher starts, so that they make
// one batch, and checks that each gets its own answers, as alone.
func TestBatching(t *testing.T) {
	s, _, _ := newTest(t, Config{MaxBatch: 8, BatchDelay: time.Second})
	e := s.models["mnist"]
	e.b.close() // a batcher whose loop runs when the test says
	b := &batcher{e: e, queue: make(chan *job, 16), maxBatch: 8, delay: time.Second, met: s.met,
		quit: make(chan struct{}), done: make(chan struct{})}
	e.b = b
	px, classes := preparedDigits(t)
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	jobs := []*job{
		{ctx: ctx, pixels: px[0], n: 1},
		{ctx: ctx, pixels: concat(px[1], px[2]), n: 2},
		{ctx: cancelled, pixels: px[0], n: 1},                               // its caller has gone
		{ctx: ctx, pixels: make([]float32, 700), n: 1},                      // breaks the forward pass
		{ctx: ctx, pixels: px[2], n: 1},                                     // and must not fail the others
		{ctx: ctx, pixels: concat(px[1], px[0], px[2], px[1], px[0]), n: 5}, // overflows 8: the next batch
	}
	for _, j := range jobs {
		j.done = make(chan result, 1)
		if err := b.submit(j); err != nil {
			t.Fatal(err)
		}
	}
	b.start(1)
	want := [][]int{{classes[0]}, {classes[1], classes[2]}, nil, nil, {classes[2]}, {7, 1, 2, 7, 1}}
	for i, j := range jobs {
		r := <-j.done
		switch {
		case i == 2:
			if r.err != context.Canceled {
				t.Errorf("job %d: %v, want context.Canceled", i, r.err)
			}
		case i == 3:
			if r.err == nil || !strings.Contains(r.err.Error(), "not a whole number") {
				t.Errorf("job %d: %v, want the model's error", i, r.err)
			}
		case r.err != nil:
			t.Errorf("job %d: %v", i, r.err)
		default:
			var got []int
			for _, p := range r.preds {
				got = append(got, p.Class)
			}
			if fmt.Sprint(got) != fmt.Sprint(want[i]) {
				t.Errorf("job %d: classes %v, want %v", i, got, want[i])
			}
		}
	}
	// The first batch failed and ran again job by job: 1, 2, (fail), 1;
	// then one of 5. Failed passes are not counted.
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "resgo_batch_size" {
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 4 || h.GetSampleSum() != 9 {
				t.Errorf("batch sizes: %d batches, %v images; want 4 and 9", h.GetSampleCount(), h.GetSampleSum())
			}
		}
	}
}

func concat(ps ...[]float32) []float32 {
	var out []float32
	for _, p := range ps {
		out = append(out, p...)
	}
	return out
}

// TestConcurrentRequests sends requests at once and checks each gets its
// own digit back, whatever batch it joined.
func TestConcurrentRequests(t *testing.T) {
	_, ts, _ := newTest(t, Config{MaxBatch: 4, BatchDelay: 5 * time.Millisecond})
	var wg sync.WaitGroup
	for i := range 12 {
		d := digits[i%len(digits)]
		img := readDigit(t, d.file)
		wg.Go(func() {
			req, _ := http.NewRequest("POST", ts.URL+"/v1/models/mnist:classify", bytes.NewReader(img))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var v map[string]any
			json.NewDecoder(resp.Body).Decode(&v)
			if resp.StatusCode != 200 || v["class"] != float64(d.class) {
				t.Errorf("%s: %d %v", d.file, resp.StatusCode, v)
			}
		})
	}
	wg.Wait()
}

// TestOverload fills the queue of a batcher that does not run: the next
// request is refused at once with 429, the queued one times out with 504,
// and beyond the in-flight cap or the memory for bodies requests get 503.
func TestOverload(t *testing.T) {
	s, ts, _ := newTest(t, Config{MaxQueue: 2, Timeout: 300 * time.Millisecond})
	e := s.models["mnist"]
	e.b.close()
	e.b = &batcher{e: e, queue: make(chan *job, 1), quit: make(chan struct{}), done: make(chan struct{})}
	close(e.b.done) // no loop runs
	img := readDigit(t, "seven.png")
	url := ts.URL + "/v1/models/mnist:classify"
	first := make(chan int)
	go func() {
		code, _ := callRaw(t, "POST", url, "image/png", img)
		first <- code
	}()
	for len(e.b.queue) == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	code, v := call(t, "POST", url, "image/png", img)
	wantError(t, code, v, 429, "queue is full")
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("429 took %v: it should not wait", d)
	}
	s.inflight <- struct{}{} // the first request holds the other token
	code, v = call(t, "POST", url, "image/png", img)
	wantError(t, code, v, 503, "too many requests in flight")
	<-s.inflight
	s.cfg.BodyMemory = int64(len(img)) - 1 // the bodies held may not grow beyond this
	code, v = call(t, "POST", url, "image/png", img)
	wantError(t, code, v, 503, "too much request data")
	if code := <-first; code != 504 {
		t.Errorf("the queued request: %d, want 504", code)
	}
	e.b.queue = make(chan *job, 1) // the close in Cleanup finds it empty
}

func TestReload(t *testing.T) {
	var logs bytes.Buffer
	s, ts, path := newTest(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	url := ts.URL + "/v2/repository/models/mnist/load"
	code, v := call(t, "POST", url, "", nil)
	if code != 200 || v["name"] != "mnist" {
		t.Fatalf("reload: %d %v", code, v)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := s.models["mnist"].model.Load()
	// A damaged file: refused, and the old model keeps serving.
	damaged := append([]byte{}, good...)
	copy(damaged[8:], "{{{{") // the header is no longer JSON
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{{"damaged", damaged, path}, {"truncated", good[:len(good)/2], path}, {"not a checkpoint", []byte("hello"), path}} {
		if err := os.WriteFile(path, c.b, 0o644); err != nil {
			t.Fatal(err)
		}
		code, v := call(t, "POST", url, "", nil)
		wantError(t, code, v, 400, "reload refused, the old model keeps serving")
		wantError(t, code, v, 400, c.want)
		if s.models["mnist"].model.Load() != old {
			t.Errorf("%s: the model was replaced", c.name)
		}
		code, v = call(t, "POST", ts.URL+"/v1/models/mnist:classify", "image/png", readDigit(t, "seven.png"))
		if code != 200 || v["class"] != 7.0 {
			t.Errorf("%s: after the refused reload: %d %v", c.name, code, v)
		}
	}
	if !strings.Contains(logs.String(), "reload refused") {
		t.Errorf("the refused reload is not logged:\n%s", logs.String())
	}
	// A different network: refused.
	if err := os.WriteFile(path, otherNetwork(t, "vgg16-reduced", models.Options{}), 0o644); err != nil {
		t.Fatal(err)
	}
	code, v = call(t, "POST", url, "", nil)
	wantError(t, code, v, 400, "holds a vgg16-reduced with 10 classes, but model \"mnist\" is a resnet with 10 classes")
	if err := s.ReloadAll(); err == nil {
		t.Error("ReloadAll of a different network succeeded")
	}
	// The same network for other pictures: refused.
	if err := os.WriteFile(path, otherNetwork(t, "resnet", models.Options{Height: 32, Width: 32, Channels: 3}), 0o644); err != nil {
		t.Fatal(err)
	}
	code, v = call(t, "POST", url, "", nil)
	wantError(t, code, v, 400, "takes 32×32×3 images: resgo serve serves models of 28×28 grey digits")
	// The good file again: swapped in.
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.ReloadAll(); err != nil {
		t.Fatal(err)
	}
	if s.models["mnist"].model.Load() == old {
		t.Error("the good reload kept the old model")
	}
	_, raw := callRaw(t, "GET", ts.URL+"/metrics", "", nil)
	for _, want := range []string{`resgo_reloads_total{model="mnist",result="ok"} 2`, `resgo_reloads_total{model="mnist",result="refused"} 6`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestMetrics(t *testing.T) {
	_, ts, path := newTest(t, Config{})
	call(t, "POST", ts.URL+"/v1/models/mnist:classify", "image/png", readDigit(t, "one.png"))
	call(t, "POST", ts.URL+"/v1/models/mnist:classify", "text/plain", []byte("x"))
	call(t, "GET", ts.URL+"/v2/models/nope", "", nil)
	code, raw := callRaw(t, "GET", ts.URL+"/metrics", "", nil)
	if code != 200 {
		t.Fatal(code)
	}
	for _, want := range []string{
		`resgo_requests_total{code="200",model="mnist",route="classify"} 1`,
		`resgo_requests_total{code="415",model="mnist",route="classify"} 1`,
		`resgo_requests_total{code="404",model="",route="model_metadata"} 1`,
		`resgo_request_duration_seconds_count{model="mnist",route="classify"} 2`,
		`resgo_batch_size_count{model="mnist"} 1`,
		`resgo_queue_depth{model="mnist"} 0`,
		`resgo_requests_in_flight 0`,
		fmt.Sprintf(`resgo_model_info{architecture="resnet",epoch="2",model="mnist",path=%q} 1`, path),
		`resgo_model_epoch{model="mnist"} 2`,
		`resgo_model_test_accuracy{model="mnist"} 0.9882`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRequestLog(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		var logs bytes.Buffer
		_, ts, _ := newTest(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Quiet: quiet})
		call(t, "POST", ts.URL+"/v1/models/mnist:classify", "image/png", readDigit(t, "one.png"))
		call(t, "GET", ts.URL+"/v2/models/nope", "", nil)
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		if quiet {
			if logs.Len() != 0 {
				t.Errorf("--quiet logged:\n%s", logs.String())
			}
			continue
		}
		if len(lines) != 2 ||
			!strings.Contains(lines[0], "path=/v1/models/mnist:classify route=classify status=200") || !strings.Contains(lines[0], "model=mnist") ||
			!strings.Contains(lines[1], "status=404") || !strings.Contains(lines[1], `err="no model named \"nope\"`) {
			t.Errorf("request log:\n%s", logs.String())
		}
	}
}

func TestPage(t *testing.T) {
	_, ts, _ := newTest(t, Config{})
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	page := string(b)
	for _, want := range []string{"<canvas", `name="viewport"`, `type="file"`, "page/app.js"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	for _, ref := range []string{"http://", "https://", "//cdn"} {
		if strings.Contains(page, ref) {
			t.Errorf("the page refers to %s: its assets must be embedded", ref)
		}
	}
	code, js := callRaw(t, "GET", ts.URL+"/page/app.js", "", nil)
	if code != 200 || !strings.Contains(string(js), ":classify") {
		t.Errorf("GET /page/app.js: %d", code)
	}
}

func TestNew(t *testing.T) {
	path := testCheckpoint(t)
	for _, c := range []struct {
		specs []ModelSpec
		want  string
	}{
		{nil, "no model"},
		{[]ModelSpec{{Path: path}, {Path: path}}, `two models named "resnet"`},
		{[]ModelSpec{{Name: "a/b", Path: path}}, `"a/b" cannot name a model`},
		{[]ModelSpec{{Path: path + ".missing"}}, path + ".missing"},
	} {
		if _, err := New(Config{}, c.specs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%v): %v, want %q", c.specs, err, c.want)
		}
	}
	s, err := New(Config{}, []ModelSpec{{Path: path}, {Name: "b", Path: path}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := fmt.Sprint(s.Models()); got != "[b resnet]" {
		t.Errorf("Models() = %s", got)
	}
}

// TestNoWaitAlone: a request alone does not wait --batch-delay for others
// (here an hour, beyond the request's timeout).
func TestNoWaitAlone(t *testing.T) {
	_, ts, _ := newTest(t, Config{BatchDelay: time.Hour, Timeout: 20 * time.Second})
	for _, d := range digits {
		code, v := call(t, "POST", ts.URL+"/v1/models/mnist:classify", "image/png", readDigit(t, d.file))
		if code != 200 || v["class"] != float64(d.class) {
			t.Errorf("%s: %d %v", d.file, code, v)
		}
	}
}

// TestNotDigits refuses to serve a model of other pictures than 28×28
// grey digits, naming the file and the model's input or its data.
func TestNotDigits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cifar.safetensors")
	if err := os.WriteFile(path, otherNetwork(t, "vgg16-reduced", models.Options{Height: 32, Width: 32, Channels: 3}), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{}, []ModelSpec{{Path: path}})
	if err == nil || !strings.Contains(err.Error(), path+": the model takes 32×32×3 images: resgo serve serves models of 28×28 grey digits") {
		t.Errorf("New of a 32×32×3 model: %v", err)
	}
	// A 28×28 grey model of other pictures than digits (Fashion-MNIST's).
	if err := os.WriteFile(path, networkFile(t, "resnet", models.Options{}, checkpoint.RunInfo{Format: "idx", Prepare: checkpoint.PreparePixels}), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{}, []ModelSpec{{Path: path}})
	if err == nil || !strings.Contains(err.Error(), path+": the model was trained on 28×28 grey images that are not MNIST's digits") {
		t.Errorf("New of a 28×28 grey model of other pictures: %v", err)
	}
}

// TestClassNames serves a model whose checkpoint names its classes: the
// answers and the model's metadata carry those names, not the indices.
func TestClassNames(t *testing.T) {
	names := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
	st, err := checkpoint.Load(testCheckpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	st.Classes = names
	path := filepath.Join(t.TempDir(), "named.safetensors")
	if err := checkpoint.Save(path, st); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{}, []ModelSpec{{Name: "mnist", Path: path}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })

	for _, d := range digits {
		code, v := call(t, "POST", ts.URL+"/v1/models/mnist:classify", "image/png", readDigit(t, d.file))
		if code != 200 || v["class"] != float64(d.class) || v["label"] != names[d.class] {
			t.Errorf("%s: %d %v, want label %q", d.file, code, v, names[d.class])
		}
	}
	code, v := call(t, "GET", ts.URL+"/v2/models/mnist", "", nil)
	if code != 200 || !strings.Contains(fmt.Sprint(v), "seven") {
		t.Errorf("model metadata: %d %v, want the class names", code, v)
	}
}
