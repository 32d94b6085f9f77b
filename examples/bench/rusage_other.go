//go:build !unix

package main

import (
	"os"
	"time"
)

// selfCPU is not measured on this platform.
func selfCPU() time.Duration { return 0 }

// maxRSS is not measured on this platform.
func maxRSS(*os.ProcessState) int64 { return 0 }

// peakRSS is not measured on this platform.
func peakRSS() int64 { return 0 }
