package data

import (
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/tiff"
)

// TestFolderRefusesTIFF: an image folder takes PNG, JPEG and GIF only, as
// predict does, even when a TIFF decoder is registered (resgo's command
// registers one through gonum/plot) and the file is named .png.
func TestFolderRefusesTIFF(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.png")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := tiff.Encode(f, image.NewGray(image.Rect(0, 0, 4, 4)), nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l := &listing{images: []folderImage{{path: p}}}
	l.headers()
	if err := l.images[0].bad; err == nil || !strings.Contains(err.Error(), "TIFF") {
		t.Fatalf("a TIFF named .png: %v, want it refused as TIFF", err)
	}
}
