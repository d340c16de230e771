package testutil

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

func TestIDXAndGzip(t *testing.T) {
	got := IDX(0x803, []uint32{2, 1, 1}, []byte{7, 9})
	want := []byte{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 7, 9}
	if !bytes.Equal(got, want) {
		t.Fatalf("IDX = %v, want %v", got, want)
	}
	zr, err := gzip.NewReader(bytes.NewReader(Gzip(got)))
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(back, got) {
		t.Fatalf("Gzip does not round-trip: %v %v", back, err)
	}
}
