package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"resgo"
	"resgo/imageprep"
)

// The Open Inference Protocol v2's names for a model's tensors.
const (
	inputName  = "image"         // FP32 or UINT8 [N, 28, 28, 1]
	outProbs   = "probabilities" // FP32 [N, classes]
	outClass   = "class"         // INT64 [N]
	outLabel   = "label"         // BYTES [N]
	platform   = "resgo"
	modelVers  = "1"
	serverName = "resgo"
)

// metadataTensor describes a tensor in model metadata.
type metadataTensor struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

func (s *Server) live(x *exchange, r *http.Request) error {
	writeJSON(x, http.StatusOK, map[string]bool{"live": true})
	return nil
}

func (s *Server) ready(x *exchange, r *http.Request) error {
	if s.draining.Load() {
		writeJSON(x, http.StatusServiceUnavailable, map[string]bool{"ready": false})
		return nil
	}
	writeJSON(x, http.StatusOK, map[string]bool{"ready": true})
	return nil
}

func (s *Server) serverMetadata(x *exchange, r *http.Request) error {
	writeJSON(x, http.StatusOK, map[string]any{
		"name":       serverName,
		"version":    s.cfg.Version,
		"extensions": []string{"model_repository"},
	})
	return nil
}

func (s *Server) modelMetadata(x *exchange, r *http.Request) error {
	e, err := s.entryFor(x, r, r.PathValue("name"))
	if err != nil {
		return err
	}
	info := e.model.Load().Info()
	const sz = imageprep.Size
	writeJSON(x, http.StatusOK, map[string]any{
		"name":     e.name,
		"versions": []string{modelVers},
		"platform": platform,
		"inputs":   []metadataTensor{{inputName, "FP32", []int{-1, sz, sz, 1}}},
		"outputs": []metadataTensor{
			{outProbs, "FP32", []int{-1, info.Classes}},
			{outClass, "INT64", []int{-1}},
			{outLabel, "BYTES", []int{-1}},
		},
		// Not in the protocol: what the page shows about the model.
		"parameters": modelParameters(info),
	})
	return nil
}

// modelParameters is what resgo tells about a model beyond the protocol.
func modelParameters(info resgo.Info) map[string]any {
	return map[string]any{
		"architecture":  info.Model,
		"epoch":         info.Epoch,
		"test_accuracy": info.TestAccuracy,
		"classes":       info.Classes,
		"labels":        labels(info),
	}
}

// labels names the model's classes, as its checkpoint (or ONNX file)
// recorded them: "0" to "9" for MNIST's digits.
func labels(info resgo.Info) []string {
	if len(info.ClassNames) == info.Classes {
		return info.ClassNames
	}
	l := make([]string, info.Classes)
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}

// label is the name of a prediction's class.
func label(p resgo.Prediction) string {
	if p.Label != "" {
		return p.Label
	}
	return strconv.Itoa(p.Class)
}

func (s *Server) modelReady(x *exchange, r *http.Request) error {
	e, err := s.entryFor(x, r, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(x, http.StatusOK, map[string]any{"name": e.name, "ready": true})
	return nil
}

// inferRequest is the protocol's $inference_request.
type inferRequest struct {
	ID         string           `json:"id,omitempty"`
	Parameters map[string]any   `json:"parameters,omitempty"`
	Inputs     []requestInput   `json:"inputs"`
	Outputs    []requestedOuput `json:"outputs,omitempty"`
}

type requestInput struct {
	Name       string          `json:"name"`
	Shape      []int           `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data"`
}

type requestedOuput struct {
	Name string `json:"name"`
}

// responseOutput is the protocol's $response_output.
type responseOutput struct {
	Name     string `json:"name"`
	Shape    []int  `json:"shape"`
	Datatype string `json:"datatype"`
	Data     any    `json:"data"`
}

func (s *Server) infer(x *exchange, r *http.Request) error {
	e, err := s.entryFor(x, r, r.PathValue("name"))
	if err != nil {
		return err
	}
	defer e.begin()()
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	var req inferRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return errorf(http.StatusBadRequest, "the body is not an inference request: %v", jsonError(err))
	}
	if len(req.Inputs) != 1 {
		return errorf(http.StatusBadRequest, "expected 1 input tensor %q, got %d", inputName, len(req.Inputs))
	}
	in := req.Inputs[0]
	if in.Name != inputName {
		return errorf(http.StatusBadRequest, "unknown input %q: the model's input is %q", in.Name, inputName)
	}
	px, n, err := s.inputPixels(r, in)
	if err != nil {
		return err
	}
	wanted := map[string]bool{outProbs: true, outClass: true, outLabel: true}
	if len(req.Outputs) > 0 {
		wanted = map[string]bool{}
		for _, o := range req.Outputs {
			if o.Name != outProbs && o.Name != outClass && o.Name != outLabel {
				return errorf(http.StatusBadRequest, "unknown output %q: the model's outputs are %q, %q and %q", o.Name, outProbs, outClass, outLabel)
			}
			wanted[o.Name] = true
		}
	}
	res, err := s.predict(r.Context(), e, px, n)
	if err != nil {
		return err
	}
	classes := res.model.Info().Classes
	probs := make([]float32, 0, n*classes)
	cls := make([]int, n)
	lbl := make([]string, n)
	for i, p := range res.preds {
		probs = append(probs, p.Probabilities...)
		cls[i] = p.Class
		lbl[i] = label(p)
	}
	var outs []responseOutput
	if wanted[outProbs] {
		outs = append(outs, responseOutput{outProbs, []int{n, classes}, "FP32", probs})
	}
	if wanted[outClass] {
		outs = append(outs, responseOutput{outClass, []int{n}, "INT64", cls})
	}
	if wanted[outLabel] {
		outs = append(outs, responseOutput{outLabel, []int{n}, "BYTES", lbl})
	}
	resp := map[string]any{"model_name": e.name, "model_version": modelVers, "outputs": outs}
	if req.ID != "" {
		resp["id"] = req.ID
	}
	writeJSON(x, http.StatusOK, resp)
	return nil
}

// inputPixels returns the images of the input tensor, prepared, and their
// number: FP32 or UINT8 pixels, or BYTES, a base64 PNG, JPEG or GIF picture
// per element (shape [N]).
func (s *Server) inputPixels(r *http.Request, in requestInput) ([]float32, int, error) {
	if len(in.Data) == 0 {
		return nil, 0, errorf(http.StatusBadRequest, "input %q has no data", inputName)
	}
	if in.Datatype == "BYTES" {
		if len(in.Shape) != 1 || in.Shape[0] < 1 {
			return nil, 0, errorf(http.StatusBadRequest, "input %q: BYTES holds pictures, one per element: shape [N], not %v", inputName, in.Shape)
		}
		var pics []string
		if err := json.Unmarshal(in.Data, &pics); err != nil {
			return nil, 0, errorf(http.StatusBadRequest, "input %q: BYTES data must be an array of base64 strings", inputName)
		}
		if len(pics) != in.Shape[0] {
			return nil, 0, errorf(http.StatusBadRequest, "input %q: shape %v holds %d pictures, data has %d", inputName, in.Shape, in.Shape[0], len(pics))
		}
		px := make([]float32, len(pics)*pixelsPerImage)
		for i, p := range pics {
			b, err := decodeBase64(p)
			if err == nil {
				err = s.prepareImage(r.Context(), px[i*pixelsPerImage:(i+1)*pixelsPerImage], b)
			}
			if err != nil {
				return nil, 0, prefixError(err, fmt.Sprintf("input %q: picture %d: ", inputName, i))
			}
		}
		return px, len(pics), nil
	}
	n, err := imagesOf(in.Shape, true)
	if err != nil {
		return nil, 0, errorf(http.StatusBadRequest, "input %q: %v", inputName, err)
	}
	want := n * pixelsPerImage
	conv, err := pixelsOf(in.Datatype)
	if err != nil {
		return nil, 0, errorf(http.StatusBadRequest, "input %q: %v", inputName, err)
	}
	t, err := parseTensor(in.Data, want, conv)
	if err != nil {
		return nil, 0, errorf(http.StatusBadRequest, "input %q: data: %v", inputName, err)
	}
	if len(t.data) != want {
		return nil, 0, errorf(http.StatusBadRequest, "input %q: shape %v holds %d values, data has %d", inputName, in.Shape, want, len(t.data))
	}
	return t.data, n, nil
}

// jsonError says where JSON went wrong, without Go's type names.
func jsonError(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("bad JSON at byte %d: %v", e.Offset, e)
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("field %q must be a JSON %s, not %s", e.Field, jsonKind(e.Type.Kind().String()), e.Value)
	}
	return err.Error()
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	case "string":
		return "string"
	case "bool":
		return "boolean"
	}
	return "number"
}

// repositoryIndex answers the repository extension's index: every model
// and its state.
func (s *Server) repositoryIndex(x *exchange, r *http.Request) error {
	type model struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		State   string `json:"state"`
		Reason  string `json:"reason"`
	}
	out := []model{}
	for _, name := range s.names {
		out = append(out, model{name, modelVers, "READY", ""})
	}
	writeJSON(x, http.StatusOK, out)
	return nil
}

// load reloads a model's checkpoint from disk (see Server.Reload).
func (s *Server) load(x *exchange, r *http.Request) error {
	e, err := s.entryFor(x, r, r.PathValue("name"))
	if err != nil {
		return err
	}
	info, err := s.Reload(e.name)
	if err != nil {
		return errorf(http.StatusBadRequest, "reload refused, the old model keeps serving: %v", err)
	}
	writeJSON(x, http.StatusOK, map[string]any{"name": e.name, "path": info.Path, "parameters": modelParameters(info)})
	return nil
}
