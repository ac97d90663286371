package main

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A port in use says how to have a free one picked, and leaves no
// directory behind: fake-server listens before it writes anything.
func TestFakeServerPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	addr := busy.Addr().String()
	for _, tc := range []struct{ flag, other string }{{"--addr", "--admin-addr"}, {"--admin-addr", "--addr"}} {
		t.Run(tc.flag, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "fake")
			r := runCLI(t, nil, "", "fake-server", tc.flag, addr, tc.other, "127.0.0.1:0", "--dir", dir)
			require.Equal(t, exitFailure, r.code, r)
			assert.Contains(t, r.stderr, "the port is in use")
			assert.Contains(t, r.stderr, "pass "+tc.flag+" 127.0.0.1:0")
			assert.Empty(t, r.stdout)
			_, err := os.Stat(dir)
			require.ErrorIs(t, err, fs.ErrNotExist, "no directory written")
		})
	}
}
