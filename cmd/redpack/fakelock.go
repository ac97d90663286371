package main

import "fmt"

// lockName is the file in --dir that says which fake-server holds it.
const lockName = "fake-server.lock"

func (d *fakeDir) inUse(pid int, path string) error {
	return fmt.Errorf("--dir %s is in use by another fake-server (PID %d): stop it, or give this one its own --dir (if no fake-server runs there, delete %s)",
		d.path, pid, path)
}
