package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/redpack-go/redpack/internal/flock"
)

// lockName is the file in --dir that says which fake-server holds it.
const lockName = "fake-server.lock"

// lock takes the directory for this process: a second fake-server on it
// would rewrite merchant.json with its own ports while the first runs, and
// leave clients a dead port when it stops. The lock is one the kernel
// drops when the process dies (see flock.TryLock), so a server killed with
// SIGKILL leaves nothing to take over by hand. The returned function gives
// the directory back.
func (d *fakeDir) lock() (release func(), err error) {
	path := filepath.Join(d.path, lockName)
	release, err = flock.TryLock(path)
	var held *flock.HeldError
	var busy *flock.Contended
	switch {
	case errors.As(err, &held):
		return nil, d.inUse(held.PID, path)
	case errors.As(err, &busy):
		return nil, fmt.Errorf("--dir %s: could not take %s: other fake-servers are starting on it", d.path, lockName)
	case err != nil:
		return nil, fmt.Errorf("--dir: %w", err)
	}
	return release, nil
}

func (d *fakeDir) inUse(pid int, path string) error {
	return fmt.Errorf("--dir %s is in use by another fake-server (PID %d): stop it, or give this one its own --dir (if no fake-server runs there, delete %s)",
		d.path, pid, path)
}
