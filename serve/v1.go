package serve

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"resgo"
	"resgo/imageprep"
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

// tfCall routes POST /v1/models/NAME:predict and NAME:classify, and
// /v1/models/NAME/versions/VERSION:predict and :classify.
func (s *Server) tfCall(x *exchange, r *http.Request) error {
	call := r.PathValue("call")
	i := strings.LastIndexByte(call, ':')
	if i < 0 {
		return errorf(http.StatusNotFound, "no route POST %s: use /v1/models/NAME:predict or NAME:classify", r.URL.Path)
	}
	name, verb := call[:i], call[i+1:]
	if n := r.PathValue("name"); n != "" { // .../NAME/versions/VERSION:verb
		if name == "" {
			return errorf(http.StatusNotFound, "no route POST %s: use /v1/models/NAME/versions/1:%s", r.URL.Path, verb)
		}
		r.SetPathValue("version", name)
		name = n
	}
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

// signatureName is the one signature a served model has, in TensorFlow
// Serving's terms: the default one.
const signatureName = "serving_default"

// tfPredict answers TensorFlow Serving's predict, in the row format,
// {"instances": [...]} answered with {"predictions": [...]}, or the
// columnar one, {"inputs": [...]} or {"inputs": {"image": [...]}} answered
// with {"outputs": {"probabilities": [...], "class": [...], "label": [...]}}.
// An instance (an element of either list) is an image as nested arrays of
// grey levels in [0, 1] ([28][28][1], [28][28] or [784]), a picture as
// {"b64": "..."}, or, in the row format, either under the input's name,
// {"image": ...}.
func (s *Server) tfPredict(x *exchange, r *http.Request, e *entry) error {
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	var req struct {
		SignatureName string          `json:"signature_name"`
		Instances     json.RawMessage `json:"instances"`
		Inputs        json.RawMessage `json:"inputs"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errorf(http.StatusBadRequest, "the body is not a predict request: %v", jsonError(err))
	}
	if req.SignatureName != "" && req.SignatureName != signatureName {
		return errorf(http.StatusBadRequest, "no signature %q: the model's only signature is %q", req.SignatureName, signatureName)
	}
	columnar := req.Inputs != nil
	raw := req.Instances
	switch {
	case columnar && req.Instances != nil:
		return errorf(http.StatusBadRequest, `send "instances" (the row format) or "inputs" (the columnar format), not both`)
	case columnar:
		raw = bytes.TrimSpace(req.Inputs)
		if len(raw) > 0 && raw[0] == '{' { // the inputs by name
			var named map[string]json.RawMessage
			if err := json.Unmarshal(raw, &named); err != nil {
				return errorf(http.StatusBadRequest, `"inputs": %v`, jsonError(err))
			}
			for name := range named {
				if name != inputName {
					return errorf(http.StatusBadRequest, `"inputs": unknown input %q: the model's only input is %q`, name, inputName)
				}
			}
			if raw = named[inputName]; raw == nil {
				return errorf(http.StatusBadRequest, `"inputs": no input %q`, inputName)
			}
		}
	}
	var instances []json.RawMessage
	if err := json.Unmarshal(raw, &instances); err != nil || len(instances) == 0 {
		if columnar {
			return errorf(http.StatusBadRequest, `expected {"inputs": [...]} or {"inputs": {%q: [...]}}, a batch of at least one image`, inputName)
		}
		return errorf(http.StatusBadRequest, `expected {"instances": [...]} with at least one instance`)
	}
	px := make([]float32, len(instances)*pixelsPerImage)
	for i, raw := range instances {
		if err := s.instance(r, px[i*pixelsPerImage:(i+1)*pixelsPerImage], raw, !columnar); err != nil {
			return prefixError(err, "instance "+strconv.Itoa(i)+": ")
		}
	}
	res, err := s.predict(r.Context(), e, px, len(instances))
	if err != nil {
		return err
	}
	if columnar {
		probs := make([][]float32, len(res.preds))
		cls := make([]int, len(res.preds))
		lbl := make([]string, len(res.preds))
		for i, p := range res.preds {
			probs[i], cls[i], lbl[i] = p.Probabilities, p.Class, label(p)
		}
		writeJSON(x, http.StatusOK, map[string]any{"outputs": map[string]any{outProbs: probs, outClass: cls, outLabel: lbl}})
		return nil
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

// tfMetadata answers TensorFlow Serving's model metadata: the signature
// of the model's predict, its tensors' names, types and shapes, as a
// GetModelMetadataResponse in JSON.
func (s *Server) tfMetadata(x *exchange, r *http.Request) error {
	e, err := s.entryFor(x, r, r.PathValue("name"))
	if err != nil {
		return err
	}
	info := e.model.Load().Info()
	type dim struct {
		Size string `json:"size"` // an int64, a string in protobuf's JSON
		Name string `json:"name"`
	}
	type tensorInfo struct {
		Dtype string `json:"dtype"`
		Shape struct {
			Dim         []dim `json:"dim"`
			UnknownRank bool  `json:"unknown_rank"`
		} `json:"tensor_shape"`
		Name string `json:"name"`
	}
	tensor := func(dtype, name string, shape ...int) tensorInfo {
		t := tensorInfo{Dtype: dtype, Name: name}
		for _, n := range shape {
			t.Shape.Dim = append(t.Shape.Dim, dim{Size: strconv.Itoa(n)})
		}
		return t
	}
	const sz = imageprep.Size
	sig := map[string]any{
		"inputs": map[string]tensorInfo{inputName: tensor("DT_FLOAT", inputName+":0", -1, sz, sz, 1)},
		"outputs": map[string]tensorInfo{
			outProbs: tensor("DT_FLOAT", outProbs+":0", -1, info.Classes),
			outClass: tensor("DT_INT64", outClass+":0", -1),
			outLabel: tensor("DT_STRING", outLabel+":0", -1),
		},
		"method_name": "tensorflow/serving/predict",
		"defaults":    map[string]any{},
	}
	writeJSON(x, http.StatusOK, map[string]any{
		"model_spec": map[string]string{"name": e.name, "signature_name": "", "version": modelVers},
		"metadata": map[string]any{"signature_def": map[string]any{
			"signature_def": map[string]any{signatureName: sig},
		}},
	})
	return nil
}

// instance prepares one predict instance into dst; named allows the row
// format's {"image": ...}.
func (s *Server) instance(r *http.Request, dst []float32, raw json.RawMessage, named bool) error {
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
		if v, ok := obj[inputName]; ok && len(obj) == 1 && named {
			return s.instance(r, dst, v, false)
		}
		if !named {
			return errorf(http.StatusBadRequest, `expected an array of grey levels or {"b64": "..."}`)
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
