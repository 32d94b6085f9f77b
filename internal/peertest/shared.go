package peertest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// The projects in SharedPeers whose sources the tests run.
const (
	// Pyspnego is pyspnego (SPNEGO, NTLM and CredSSP in pure Python).
	Pyspnego = "pyspnego-0.12.0"
	// Pypsrp is pypsrp (a PSRP client over WinRM).
	Pypsrp = "pypsrp-0.9.1"
)

// SharedPeers returns the directory of the Python peers' sources,
// ../shared/peers beside the checkout. It is found from this file's path,
// so that it does not depend on the package a test runs in; when it is
// missing, Need reports it.
func SharedPeers(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "peers")
	if _, err := os.Stat(dir); err != nil {
		Need(t, "../shared/peers", err.Error())
	}
	return dir
}

// PeerSource returns the src directory of project (Pyspnego, Pypsrp) in
// SharedPeers, an entry for PYTHONPATH, after checking that it holds file
// (a path in it such as "spnego/_credssp.py"); when it does not, Need
// reports it.
func PeerSource(t testing.TB, project, file string) string {
	t.Helper()
	src := filepath.Join(SharedPeers(t), project, "src")
	if _, err := os.Stat(filepath.Join(src, filepath.FromSlash(file))); err != nil {
		Need(t, project+" in ../shared/peers", err.Error())
	}
	return src
}
