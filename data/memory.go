package data

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"resgo/internal/oserr"
)

// DefaultMemoryLimit returns the most bytes of pixels a data set may take
// in memory unless Options.MaxBytes says otherwise: half the machine's
// memory as /proc/meminfo gives it (MemTotal), or 4 GiB where that cannot
// be read. Training needs the rest for the model, its activations and the
// system.
func DefaultMemoryLimit() int64 {
	f, err := os.Open("/proc/meminfo")
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
			if !ok {
				continue
			}
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil && kb > 0 {
				return kb << 10 / 2
			}
		}
	}
	return 4 << 30
}

// ErrTooLarge is matched by the error for a data set that would not fit
// in the memory limit.
var ErrTooLarge = errors.New("data set too large for memory")

// checkMemory returns an error naming what if need bytes of pixels exceed
// limit.
func checkMemory(what string, need, limit int64) error {
	if limit > 0 && need > limit {
		return &FormatError{Format: "data", File: what, Err: ErrTooLarge,
			Problem: fmt.Sprintf("the images need %s in memory (N×H×W×C bytes), more than the limit of %s: a smaller --image-size, --channels 1 or fewer images would fit",
				byteSize(need), byteSize(limit))}
	}
	return nil
}

// byteSize formats n bytes as "1.5 GiB", "300.0 MiB" or "512 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// openProblem describes an error met opening or reading a file.
func openProblem(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "missing file"
	case errors.Is(err, fs.ErrPermission):
		return "cannot read: permission denied"
	}
	return fmt.Sprintf("cannot read: %v", oserr.Cause(err))
}
