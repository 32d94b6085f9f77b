package spnego

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (the peers'
// processes are waited for in t.Cleanup).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
