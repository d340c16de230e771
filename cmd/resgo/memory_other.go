//go:build !linux

package main

// memoryAvailable returns 0: how much memory is left is not read here.
func memoryAvailable() (int64, string) { return 0, "" }

// memoryLimit returns 0: no limit is read here.
func memoryLimit() int64 { return 0 }
