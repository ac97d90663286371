package flock

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// A second TryLock on a held file fails naming the holder's PID, even in
// the same process; after release the file is gone and can be taken again.
func TestTryLockExcludesAndReleases(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("outside Unix a process's own PID is taken as a stale lock")
	}
	path := filepath.Join(t.TempDir(), "db.lock")
	release, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != strconv.Itoa(os.Getpid())+"\n" {
		t.Fatalf("lock file holds %q, %v; want this PID", data, err)
	}
	_, err = TryLock(path)
	var held *HeldError
	if !errors.As(err, &held) || held.PID != os.Getpid() || held.Path != path {
		t.Fatalf("second TryLock: %v, want a HeldError naming PID %d", err, os.Getpid())
	}
	release()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the lock file outlived its release: %v", err)
	}
	release, err = TryLock(path)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	release()
}
