//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// lock takes the directory for this process: a second fake-server on it
// would rewrite merchant.json with its own ports while the first runs, and
// leave clients a dead port when it stops. The lock is an flock(2) on the
// lock file, which the kernel drops when the process dies however it dies,
// so a server killed with SIGKILL leaves nothing to take over by hand, and
// no PID can be misread as alive; the file holds the PID for the message.
// The returned function gives the directory back.
func (d *fakeDir) lock() (release func(), err error) {
	path := filepath.Join(d.path, lockName)
	for range 3 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("--dir: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				held, _ := os.ReadFile(path)
				pid, _ := strconv.Atoi(string(bytes.TrimSpace(held)))
				return nil, d.inUse(pid, path)
			}
			return nil, fmt.Errorf("--dir: lock %s: %w", lockName, err)
		}
		// The holder before us removes the file as it releases it: a lock
		// on a file no longer at path holds nothing, so try again.
		if !samePath(f, path) {
			f.Close()
			continue
		}
		if err := writePID(f); err != nil {
			os.Remove(path)
			f.Close()
			return nil, fmt.Errorf("--dir: %w", err)
		}
		return func() {
			os.Remove(path) // while still locked: see samePath
			f.Close()
		}, nil
	}
	return nil, fmt.Errorf("--dir %s: could not take %s: other fake-servers are starting on it", d.path, lockName)
}

// samePath reports whether f is the file at path now.
func samePath(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}
