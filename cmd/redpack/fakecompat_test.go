package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// This file tests fake-server as SDKs redpack did not write meet it
// (issue 14).

// inProcFake is fake-server run in this process by run, on free ports.
type inProcFake struct {
	fakeProc
	stderr *lockedBuffer
	codes  chan int
	cancel context.CancelFunc
}

// startInProc runs fake-server with args and waits for its start line; it
// is stopped when the test ends, unless stopped before.
func startInProc(t *testing.T, args ...string) *inProcFake {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	p := &inProcFake{stderr: &lockedBuffer{}, codes: make(chan int, 1), cancel: cancel}
	all := append([]string{"fake-server", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, args...)
	go func() {
		p.codes <- run(ctx, all, strings.NewReader(""), pw, p.stderr, func(string) string { return "" })
		pw.Close()
	}()
	t.Cleanup(func() { p.stop(t) })
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err, p.stderr.String())
	go io.Copy(io.Discard, pr)
	m := startLine.FindStringSubmatch(strings.TrimSpace(line))
	require.NotNil(t, m, line)
	p.t, p.baseURL, p.adminURL, p.dir = t, m[1], m[2], m[3]
	return p
}

// stop cancels the server's context and returns its exit code.
func (p *inProcFake) stop(t *testing.T) int {
	t.Helper()
	p.cancel()
	select {
	case code := <-p.codes:
		p.codes <- code // for a second stop
		return code
	case <-time.After(waitTimeout):
		t.Fatal("fake-server did not stop when its context ended")
		return -1
	}
}

func groupPacketFields(mchID, appID, bill string) map[string]string {
	fs := packetFields(mchID, appID, bill, "900")
	delete(fs, "client_ip")
	fs["total_num"], fs["amt_type"] = "3", "ALL_RAND"
	return fs
}

// TestFakeServerGroupOffline: --group-offline plays a merchant WeChat has
// closed to group packets: NO_AUTH, nothing paid; without it, a legacy one.
func TestFakeServerGroupOffline(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "creds")
	p := startInProc(t, "--dir", dir, "--group-offline")
	c := readCreds(t, dir)
	w := newWechatClient(t, c)
	a := w.post("sendgroupredpack", groupPacketFields(c.MchID, c.AppID, c.MchID+"202501040000000001"))
	assert.Equal(t, "NO_AUTH", a["err_code"], a)
	var m struct {
		Paid         int64 `json:"paid"`
		GroupOffline bool  `json:"group_offline"`
	}
	adminGet(t, &p.fakeProc, "merchants/"+c.MchID, &m)
	assert.True(t, m.GroupOffline)
	assert.Zero(t, m.Paid)
	a = w.post("sendredpack", packetFields(c.MchID, c.AppID, c.MchID+"202501040000000002", "1000"))
	assert.Equal(t, "SUCCESS", a["result_code"], a)
	require.Equal(t, exitOK, p.stop(t), p.stderr.String())

	// The same directory without the flag: group packets are accepted.
	p = startInProc(t, "--dir", dir)
	w.base = p.baseURL
	a = w.post("sendgroupredpack", groupPacketFields(c.MchID, c.AppID, c.MchID+"202501040000000003"))
	assert.Equal(t, "SUCCESS", a["result_code"], a)

	r := runCLI(t, nil, "", "help", "fake-server")
	assert.Contains(t, r.stdout, "--group-offline")
}

// TestFakeServerOneServerPerDir: a second fake-server on a directory a
// live one holds refuses to start and leaves merchant.json alone; a lock
// whose process is gone is taken over.
func TestFakeServerOneServerPerDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "creds")
	p1 := startFake(t, dir)
	before, err := os.ReadFile(filepath.Join(dir, "merchant.json"))
	require.NoError(t, err)
	lock, err := os.ReadFile(filepath.Join(dir, "fake-server.lock"))
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(p1.cmd.Process.Pid)+"\n", string(lock))

	r := runCLI(t, nil, "", "fake-server", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--dir", dir)
	assert.Equal(t, exitFailure, r.code, r)
	assert.Contains(t, r.stderr, "in use by another fake-server (PID "+strconv.Itoa(p1.cmd.Process.Pid)+")", r)
	assert.Empty(t, r.stdout)
	after, err := os.ReadFile(filepath.Join(dir, "merchant.json"))
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the refused server rewrote merchant.json")
	assert.Equal(t, p1.baseURL, readCreds(t, dir).BaseURL)

	require.Equal(t, 0, p1.stop(), p1.stderr.String())
	_, err = os.Stat(filepath.Join(dir, "fake-server.lock"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "the lock outlived its server")

	// A lock left by a process that is gone (killed), or unreadable, is
	// taken over.
	gone := exec.Command("sh", "-c", "exit 0")
	require.NoError(t, gone.Run())
	for _, stale := range []string{strconv.Itoa(gone.Process.Pid) + "\n", "garbage"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "fake-server.lock"), []byte(stale), 0o644))
		p := startInProc(t, "--dir", dir)
		lock, err := os.ReadFile(filepath.Join(dir, "fake-server.lock"))
		require.NoError(t, err)
		assert.Equal(t, strconv.Itoa(os.Getpid())+"\n", string(lock))
		assert.Equal(t, p.baseURL, readCreds(t, dir).BaseURL)
		require.Equal(t, exitOK, p.stop(t), p.stderr.String())
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), "lock", "left behind: %s", e.Name())
	}
}

// TestFakeServerDistrustHint: a client that does not trust ca.pem fails
// the handshake, and the log says to give it ca.pem.
func TestFakeServerDistrustHint(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "creds")
	p := startInProc(t, "--dir", dir)
	host := strings.TrimSuffix(strings.TrimPrefix(p.baseURL, "https://"), "/")
	_, err := tls.Dial("tcp", host, &tls.Config{ServerName: "127.0.0.1"}) // the system's roots only
	require.Error(t, err)
	caPath := filepath.Join(dir, "ca.pem")
	require.Eventually(t, func() bool { return strings.Contains(p.stderr.String(), "hint=") }, waitTimeout, 20*time.Millisecond,
		"no hint in:\n%s", p.stderr)
	logs := p.stderr.String()
	assert.Contains(t, logs, "TLS handshake error")
	assert.Contains(t, logs, caPath)

	// The alert some clients end with, and one that is not about trust.
	var out strings.Builder
	h := tlsHintHandler{Handler: slog.NewTextHandler(&out, nil), caPath: caPath}
	l := slog.NewLogLogger(h, slog.LevelWarn)
	l.Print("http: TLS handshake error from 127.0.0.1:50000: local error: tls: bad record MAC")
	l.Print("http: TLS handshake error from 127.0.0.1:50001: EOF")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0], "hint=")
	assert.NotContains(t, lines[1], "hint=")
}
