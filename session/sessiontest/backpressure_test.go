package sessiontest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A handler that writes faster than its client receives waits once about
// maxBacklog bytes (here: 1 MiB, to keep the test short) are queued, so that the endpoint's memory stays flat
// however much it writes; everything arrives as the client receives. The
// pool's Receive does not take the pipeline's output (it would then pile
// up out of the backlog's sight).
func TestOutputBackpressure(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	const backlog = 1 << 20
	s.outputBacklog = backlog
	chunk := strings.Repeat("z", 64<<10)
	const n = backlog/(64<<10) + 8
	var written atomic.Int64
	s.Handle("Get-Lots", func(ctx context.Context, c *Call) error {
		for range n {
			if err := c.WriteOutput(chunk); err != nil {
				return err
			}
			written.Add(1)
		}
		return nil
	})
	c := openPool(t, s, psrp.ClientPoolConfig{})
	pl, err := c.pool.NewPipeline(psrp.Cmd("Get-Lots"), psrp.PipelineOptions{NoInput: true})
	require.NoError(t, err)
	require.NoError(t, pl.Invoke())
	c.flush()

	// The handler stops once the backlog is full.
	last, stableSince := int64(-1), time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Since(stableSince) < 300*time.Millisecond; {
		require.False(t, time.Now().After(deadline), "the handler kept writing (%d objects)", written.Load())
		if w := written.Load(); w != last || w == 0 {
			last, stableSince = w, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	assert.Less(t, last, int64(n), "the handler wrote everything with nobody receiving")
	assert.LessOrEqual(t, last*int64(len(chunk)), int64(backlog+len(chunk)), "more than the backlog queued")

	// A Receive on the pool leaves the pipeline's output where it is.
	r := c.post(env{action: wsman.ActionReceive, shellID: c.shell, timeout: "PT0.2S", body: receiveBody("")})
	require.Equal(t, "w:TimedOut", r.subcode(), string(r.body))

	res := &result{pl: pl}
	cmd := strings.ToUpper(pl.ID().String())
	for i := 0; ; i++ {
		require.Less(t, i, 1000, "pipeline did not finish")
		r := c.post(env{action: wsman.ActionReceive, shellID: c.shell, body: receiveBody(cmd)})
		require.Equal(t, 200, r.status, string(r.body))
		for _, data := range r.streams(t) {
			require.NoError(t, c.pool.Receive(data))
		}
		c.collect(res, invocation{})
		if r.done() {
			break
		}
	}
	assert.Equal(t, psrp.PipelineCompleted, res.state)
	assert.Len(t, res.output, n)
	assert.Equal(t, int64(n), written.Load())
}
