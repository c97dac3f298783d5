//go:build !unix

package experiment

// processCPUSeconds is 0 where the system does not report a process's CPU time.
func processCPUSeconds() float64 { return 0 }
