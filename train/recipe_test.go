package train

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlateau checks early stopping against Keras's EarlyStopping
// (min_delta 0): the run stops once Patience epochs have passed without a
// strictly better monitored metric than the best so far.
func TestPlateau(t *testing.T) {
	hist := func(losses ...float64) []EpochResult {
		var h []EpochResult
		for i, l := range losses {
			h = append(h, EpochResult{Epoch: i + 1, TestLoss: l, TestAccuracy: 1 - l})
		}
		return h
	}
	for _, c := range []struct {
		patience int
		monitor  string
		losses   []float64
		best     int
		stop     bool
	}{
		{2, "", []float64{0.5, 0.4, 0.45, 0.41}, 2, true},
		{2, "", []float64{0.5, 0.4, 0.45}, 2, false},
		{3, "loss", []float64{0.5, 0.4, 0.4, 0.4, 0.39}, 5, false},
		{3, "loss", []float64{0.5, 0.4, 0.4, 0.4, 0.4}, 2, true},
		{1, "accuracy", []float64{0.5, 0.3, 0.3}, 2, true}, // accuracy 0.7 at epoch 2, not bettered
		{0, "", []float64{0.1, 0.2, 0.3, 0.4}, 0, false},
	} {
		s := &Session{Config: Config{Recipe: Recipe{Patience: c.patience, Monitor: c.monitor}}, History: hist(c.losses...)}
		if best, stop := s.plateau(); best != c.best || stop != c.stop {
			t.Errorf("patience %d on %s %v: best epoch %d, stop %v; want %d, %v", c.patience, c.monitor, c.losses, best, stop, c.best, c.stop)
		}
	}
}

// TestLog writes a log, appends to it as a resumed run does, and reads it
// back.
func TestLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.csv")
	if err := os.WriteFile(path, []byte("an older run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := StartLog(path); err != nil {
		t.Fatal(err)
	}
	r := EpochResult{Epoch: 1, LR: 0.001, Loss: 0.25, Accuracy: 0.9, TestLoss: 0.125, TestAccuracy: 0.96875, Seconds: 2.5, ImagesPerSec: 400}
	if err := AppendLog(path, r); err != nil {
		t.Fatal(err)
	}
	r.Epoch = 2
	if err := AppendLog(path, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := LogHeader + "\n1,0.001,0.25,0.9,0.125,0.96875,2.5,400\n2,0.001,0.25,0.9,0.125,0.96875,2.5,400\n"
	if string(b) != want {
		t.Fatalf("log:\n%s\nwant:\n%s", b, want)
	}
	// A missing log gets its header; an unwritable one a clear error.
	fresh := filepath.Join(t.TempDir(), "new.csv")
	if err := AppendLog(fresh, r); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(fresh); !strings.HasPrefix(string(b), LogHeader+"\n2,") {
		t.Fatalf("new log:\n%s", b)
	}
	bad := filepath.Join(t.TempDir(), "missing", "log.csv")
	if err := AppendLog(bad, r); err == nil || !strings.Contains(err.Error(), "training log "+bad+": cannot open") {
		t.Fatalf("AppendLog to a missing folder: %v", err)
	}
}

// TestRunStopsEarly checks that Run stops once the monitored metric has
// not improved for Patience epochs, and says which epoch was best. The
// test losses are overwritten so that they rise after epoch 1.
func TestRunStopsEarly(t *testing.T) {
	tr, te := subsets(t, 32, 10)
	s, err := NewSession(Config{Model: "resnet", Epochs: 6, Batch: 32, LR: 1e-3, Seed: 1, Train: tr, Test: te,
		Recipe: Recipe{Patience: 2},
		OnEpoch: func(s *Session, r EpochResult) error {
			s.History[len(s.History)-1].TestLoss = float64(r.Epoch)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(s.History) != 3 || s.Stopped != 1 {
		t.Fatalf("ran %d epochs, stopped at best epoch %d; want 3 and 1", len(s.History), s.Stopped)
	}
}
