//go:build !unix

package flock

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
)

// TryLock takes the lock file at path for this process, or returns a
// *HeldError naming the process that holds it. Outside Unix the lock file
// holds the PID; one whose process is gone (a holder killed) is taken
// over. release gives the lock back and removes the file.
func TryLock(path string) (release func(), err error) {
	mine := []byte(strconv.Itoa(os.Getpid()) + "\n")
	for range 3 {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.Write(mine)
			if err := errors.Join(werr, f.Close()); err != nil {
				os.Remove(path)
				return nil, err
			}
			return func() {
				// Only while it is still ours.
				if data, err := os.ReadFile(path); err == nil && bytes.Equal(data, mine) {
					os.Remove(path)
				}
			}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		held, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, err
		}
		// Our own PID is a lock left by an earlier process that had it (a
		// container's PID 1, restarted).
		if pid := pidOf(held); pid > 0 && pid != os.Getpid() && processAlive(pid) {
			return nil, &HeldError{Path: path, PID: pid}
		}
		// Stale. Moved aside rather than deleted, and checked, so that a lock
		// another process took since it was read is not taken from it.
		aside := path + "." + strconv.Itoa(os.Getpid()) + ".stale"
		if err := os.Rename(path, aside); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		now, _ := os.ReadFile(aside)
		if !bytes.Equal(now, held) {
			os.Rename(aside, path) // give it back
			return nil, &HeldError{Path: path, PID: pidOf(now)}
		}
		os.Remove(aside)
	}
	return nil, &Contended{Path: path}
}

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
