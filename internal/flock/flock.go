// Package flock takes a lock file for one process at a time: the fake
// server's credentials directory, a campaign's SQLite file. The file holds
// the holder's PID, for the message that names it.
package flock

import (
	"bytes"
	"fmt"
	"strconv"
)

// HeldError is a lock another live process holds.
type HeldError struct {
	Path string // the lock file
	PID  int    // the holder, as its lock file says; 0 if unreadable
}

// Error implements error.
func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is held by process %d", e.Path, e.PID)
}

// Contended is the error of TryLock when other processes took and gave
// back the lock file several times while this one tried to take it.
type Contended struct{ Path string }

// Error implements error.
func (e *Contended) Error() string {
	return "could not take " + e.Path + ": other processes are taking it"
}

func pidOf(data []byte) int {
	pid, _ := strconv.Atoi(string(bytes.TrimSpace(data)))
	return pid
}
