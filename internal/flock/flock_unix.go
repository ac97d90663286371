//go:build unix

package flock

import (
	"errors"
	"os"
	"strconv"
	"syscall"
)

// TryLock takes the lock file at path for this process, or returns a
// *HeldError naming the process that holds it. The lock is an flock(2) on
// the file, which the kernel drops when the process dies however it dies,
// so a holder killed with SIGKILL leaves nothing to take over by hand, and
// no PID can be misread as alive; the file holds the PID for the message.
// Two TryLocks in one process exclude each other too. release gives the
// lock back and removes the file.
func TryLock(path string) (release func(), err error) {
	for range 3 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				held, _ := os.ReadFile(path)
				return nil, &HeldError{Path: path, PID: pidOf(held)}
			}
			return nil, &os.PathError{Op: "flock", Path: path, Err: err}
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
			return nil, err
		}
		return func() {
			os.Remove(path) // while still locked: see samePath
			f.Close()
		}, nil
	}
	return nil, &Contended{Path: path}
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
