package resgo_test

import (
	"fmt"
	"image"
	_ "image/png" // the sample digits are PNG files
	"log"
	"os"
	"path/filepath"

	"resgo"
)

// decode reads an image file.
func decode(path string) image.Image {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		log.Fatal(err)
	}
	return img
}

// Load a model trained by 'resgo train --checkpoint-dir' and classify a
// scanned digit: dark ink on white paper, 84×84 pixels.
func Example() {
	m, err := resgo.Load("testdata/mnist-resnet.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	p, err := m.Predict(decode("testdata/digits/seven.png"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("digit %d, probability %.2f\n", p.Class, p.Probabilities[p.Class])
	// Output: digit 7, probability 1.00
}

// Classify several images at once.
func ExampleModel_PredictBatch() {
	m, err := resgo.Load("testdata/mnist-resnet.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	names := []string{"seven.png", "two.png", "one.png"}
	var imgs []image.Image
	for _, n := range names {
		imgs = append(imgs, decode(filepath.Join("testdata", "digits", n)))
	}
	ps, err := m.PredictBatch(imgs)
	if err != nil {
		log.Fatal(err)
	}
	for i, p := range ps {
		fmt.Println(names[i], p.Class)
	}
	// Output:
	// seven.png 7
	// two.png 2
	// one.png 1
}

// What a checkpoint says about its model.
func ExampleModel_Info() {
	m, err := resgo.Load("testdata/mnist-resnet.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	info := m.Info()
	fmt.Printf("%s, epochs: %d, classes: %d, test accuracy: %.2f%%\n",
		info.Model, info.Epoch, info.Classes, 100*info.TestAccuracy)
	// Output: resnet, epochs: 2, classes: 10, test accuracy: 98.82%
}
