package session_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wsman recycles the buffer of each Receive's stream data once the session
// has fed it to the pool, and race builds (as CI runs) poison a recycled
// buffer. Objects cut into fragments across several responses, mixed with
// small ones, must arrive intact: a consumer that kept a slice of an
// earlier response (a partial fragment, a message) would read poison.
func TestOutputIntactAcrossRecycledReceiveBuffers(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	const large, small = 6, 200
	value := func(i int) string {
		return strings.Repeat(fmt.Sprintf("object %d ", i), 300_000/10)
	}
	srv.Handle("Get-Mixed", func(ctx context.Context, c *sessiontest.Call) error {
		for i := range large {
			if err := c.WriteOutput(value(i)); err != nil {
				return err
			}
			for j := range small {
				if err := c.WriteOutput(int32(j)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	s := open(t, srv)
	res, err := s.InvokeScript(testContext(t), "Get-Mixed")
	require.NoError(t, err)
	require.Len(t, res.Output, large*(small+1))
	for i := range large {
		got := res.Output[i*(small+1)]
		if !assert.Equal(t, value(i), got, "large object %d", i) {
			return
		}
		for j := range small {
			assert.Equal(t, int32(j), res.Output[i*(small+1)+1+j])
		}
	}
}
