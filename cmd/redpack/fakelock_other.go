//go:build !unix

package main

import "os"

// processAlive reports whether a process with the PID exists. Outside Unix
// os.FindProcess fails for one that does not (Windows opens a handle).
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
