package train

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"resgo/internal/oserr"
)

// LogHeader is the first line of a training log (--log): one line per
// epoch follows, as EpochResult.CSV writes it. Accuracies are fractions,
// as Keras's CSVLogger writes them.
const LogHeader = "epoch,lr,loss,accuracy,test_loss,test_accuracy,seconds,images_per_sec"

// CSV returns r as a line of the training log (without the newline).
func (r EpochResult) CSV() string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	return strconv.Itoa(r.Epoch) + "," + f(r.LR) + "," + f(r.Loss) + "," + f(r.Accuracy) + "," +
		f(r.TestLoss) + "," + f(r.TestAccuracy) + "," + f(r.Seconds) + "," + f(r.ImagesPerSec)
}

// StartLog creates the training log at path (and its folder), or empties
// it, and writes its header: a new run's log, as Keras's CSVLogger starts
// one.
func StartLog(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("training log %s: cannot create its folder: %v", path, oserr.Cause(err))
	}
	if err := os.WriteFile(path, []byte(LogHeader+"\n"), 0o644); err != nil {
		return fmt.Errorf("training log %s: cannot write: %v", path, oserr.Cause(err))
	}
	return nil
}

// AppendLog appends r's line to the training log at path, starting the
// log with its header if the file is missing or empty (a resumed run's log
// goes on where it stopped).
func AppendLog(path string, r EpochResult) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("training log %s: cannot open: %v", path, oserr.Cause(err))
	}
	line := r.CSV() + "\n"
	if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
		line = LogHeader + "\n" + line
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("training log %s: cannot write: %v", path, oserr.Cause(err))
	}
	return nil
}
