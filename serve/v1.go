package serve

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"resgo"
)

// tfStatus answers TensorFlow Serving's model status.
func (s *Server) tfStatus(x *exchange, r *http.Request) error {
	if _, err := s.entryFor(x, r, r.PathValue("name")); err != nil {
		return err
	}
	writeJSON(x, http.StatusOK, map[string]any{
		"model_version_status": []map[string]any{{
			"version": modelVers,
			"state":   "AVAILABLE",
			"status":  map[string]string{"error_code": "OK", "error_message": ""},
		}},
	})
	return nil
}

// tfCall routes POST /v1/models/NAME:predict and NAME:classify.
func (s *Server) tfCall(x *exchange, r *http.Request) error {
	call := r.PathValue("call")
	i := strings.LastIndexByte(call, ':')
	if i < 0 {
		return errorf(http.StatusNotFound, "no route POST %s: use /v1/models/NAME:predict or NAME:classify", r.URL.Path)
	}
	name, verb := call[:i], call[i+1:]
	switch verb {
	case "predict", "classify":
	default:
		return errorf(http.StatusNotFound, "no method %q: use /v1/models/NAME:predict or NAME:classify", verb)
	}
	x.route = verb
	e, err := s.entryFor(x, r, name)
	if err != nil {
		return err
	}
	defer e.begin()()
	if verb == "predict" {
		return s.tfPredict(x, r, e)
	}
	return s.classify(x, r, e)
}

// tfPredict answers TensorFlow Serving's predict in the row format:
// {"instances": [...]} gives {"predictions": [...]}. An instance is an
// image as nested arrays of grey levels in [0, 1] ([28][28][1], [28][28]
// or [784]), a picture as {"b64": "..."}, or either under the input's name,
// {"image": ...}.
func (s *Server) tfPredict(x *exchange, r *http.Request, e *entry) error {
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	var req struct {
		SignatureName string            `json:"signature_name"`
		Instances     []json.RawMessage `json:"instances"`
		Inputs        json.RawMessage   `json:"inputs"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errorf(http.StatusBadRequest, "the body is not a predict request: %v", jsonError(err))
	}
	if req.Inputs != nil {
		return errorf(http.StatusBadRequest, `the columnar "inputs" format is not supported: send {"instances": [...]}`)
	}
	if len(req.Instances) == 0 {
		return errorf(http.StatusBadRequest, `expected {"instances": [...]} with at least one instance`)
	}
	px := make([]float32, len(req.Instances)*pixelsPerImage)
	for i, raw := range req.Instances {
		if err := s.instance(r, px[i*pixelsPerImage:(i+1)*pixelsPerImage], raw); err != nil {
			return prefixError(err, "instance "+strconv.Itoa(i)+": ")
		}
	}
	res, err := s.predict(r.Context(), e, px, len(req.Instances))
	if err != nil {
		return err
	}
	type prediction struct {
		Probabilities []float32 `json:"probabilities"`
		Class         int       `json:"class"`
		Label         string    `json:"label"`
	}
	out := make([]prediction, len(res.preds))
	for i, p := range res.preds {
		out[i] = prediction{p.Probabilities, p.Class, label(p)}
	}
	writeJSON(x, http.StatusOK, map[string]any{"predictions": out})
	return nil
}

// instance prepares one predict instance into dst.
func (s *Server) instance(r *http.Request, dst []float32, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return errorf(http.StatusBadRequest, "%v", jsonError(err))
		}
		if b64, ok := obj["b64"]; ok && len(obj) == 1 {
			var str string
			if err := json.Unmarshal(b64, &str); err != nil {
				return errorf(http.StatusBadRequest, `"b64" must be a string of base64`)
			}
			img, err := decodeBase64(str)
			if err != nil {
				return prefixError(err, `"b64": `)
			}
			return s.prepareImage(r.Context(), dst, img)
		}
		if v, ok := obj[inputName]; ok && len(obj) == 1 {
			return s.instance(r, dst, v)
		}
		return errorf(http.StatusBadRequest, `expected an array of grey levels, {"b64": "..."} or {%q: ...}`, inputName)
	}
	conv, _ := pixelsOf("FP32")
	t, err := parseTensor(raw, pixelsPerImage, conv)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if _, err := imagesOf(t.shape, false); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	px := t.data
	copy(dst, px)
	return nil
}

// decodeBase64 decodes standard or URL-safe base64, padded or not.
func decodeBase64(str string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(str); err == nil {
			return b, nil
		}
	}
	return nil, errorf(http.StatusBadRequest, "not base64")
}

// classify answers a picture, sent as the body or as a multipart upload,
// with its class and the probabilities; with ?input=1, also the 28×28
// input the picture was prepared into.
func (s *Server) classify(x *exchange, r *http.Request, e *entry) error {
	img, err := s.imageBody(r)
	if err != nil {
		return err
	}
	px := make([]float32, pixelsPerImage)
	if err := s.prepareImage(r.Context(), px, img); err != nil {
		return err
	}
	res, err := s.predict(r.Context(), e, px, 1)
	if err != nil {
		return err
	}
	answer := classification(e.name, res.model, res.preds[0])
	if r.URL.Query().Get("input") == "1" {
		answer["input"] = px // what the model saw: 28×28 grey levels, row-major
	}
	writeJSON(x, http.StatusOK, answer)
	return nil
}

// classProba is a class with its label and probability.
type classProba struct {
	Class       int     `json:"class"`
	Label       string  `json:"label"`
	Probability float32 `json:"probability"`
}

// classification is :classify's answer.
func classification(name string, m *resgo.Model, p resgo.Prediction) map[string]any {
	lbl := labels(m.Info())
	var top []classProba
	for _, c := range p.Top(3) {
		top = append(top, classProba{c, lbl[c], p.Probabilities[c]})
	}
	return map[string]any{
		"model_name":    name,
		"class":         p.Class,
		"label":         label(p),
		"probability":   p.Probabilities[p.Class],
		"top":           top,
		"probabilities": p.Probabilities,
	}
}
