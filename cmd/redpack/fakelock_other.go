//go:build !unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// lock takes the directory for this process: a second fake-server on it
// would rewrite merchant.json with its own ports while the first runs, and
// leave clients a dead port when it stops. The lock file holds the PID; one
// whose process is gone (a server killed with SIGKILL) is taken over. The
// returned function gives the directory back.
func (d *fakeDir) lock() (release func(), err error) {
	path := filepath.Join(d.path, lockName)
	mine := []byte(strconv.Itoa(os.Getpid()) + "\n")
	for range 3 {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.Write(mine)
			if err := errors.Join(werr, f.Close()); err != nil {
				os.Remove(path)
				return nil, fmt.Errorf("--dir: %w", err)
			}
			return func() {
				// Only while it is still ours.
				if data, err := os.ReadFile(path); err == nil && bytes.Equal(data, mine) {
					os.Remove(path)
				}
			}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("--dir: %w", err)
		}
		held, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("--dir: %w", err)
		}
		// Our own PID is a lock left by an earlier process that had it (a
		// container's PID 1, restarted).
		if pid, err := strconv.Atoi(string(bytes.TrimSpace(held))); err == nil && pid > 0 && pid != os.Getpid() && processAlive(pid) {
			return nil, d.inUse(pid, path)
		}
		// Stale. Moved aside rather than deleted, and checked, so that a lock
		// another server took since it was read is not taken from it.
		aside := path + "." + strconv.Itoa(os.Getpid()) + ".stale"
		if err := os.Rename(path, aside); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("--dir: take over the stale %s: %w", lockName, err)
		}
		now, _ := os.ReadFile(aside)
		if !bytes.Equal(now, held) {
			os.Rename(aside, path) // give it back
			pid, _ := strconv.Atoi(string(bytes.TrimSpace(now)))
			return nil, d.inUse(pid, path)
		}
		os.Remove(aside)
	}
	return nil, fmt.Errorf("--dir %s: could not take %s: other fake-servers are starting on it", d.path, lockName)
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
