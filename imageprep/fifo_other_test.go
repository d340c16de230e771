//go:build !unix

package imageprep

import "errors"

func mkfifo(string) error { return errors.New("no named pipes here") }
