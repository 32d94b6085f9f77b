// Package peertest is what the tests that talk to outside peers share: the
// rule for a missing peer (skip, or fail under CI=true), Debian's python3
// and its modules, the Python peers' sources in ../shared/peers, and a
// line-oriented child process. It is imported by tests only.
package peertest

import (
	"os"
	"testing"
)

// Need stops t because what is missing (why says how it was found
// missing): it skips t, or fails it when the environment variable CI is
// "true", where .ci/run has installed every peer and a missing one is a
// broken machine rather than an optional test.
func Need(t testing.TB, what, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true: %s", what, why)
	}
	t.Skipf("%s not available (%s); install it as .ci/run does to run this test", what, why)
}
