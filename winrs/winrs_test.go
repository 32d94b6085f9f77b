package winrs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/winrs"
	"github.com/gopsrp/gopsrp/wsman"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// open starts an endpoint and opens a cmd shell on it.
func open(t *testing.T, opts ...winrs.Option) (*sessiontest.Server, *winrs.Shell) {
	t.Helper()
	srv := sessiontest.NewServer()
	t.Cleanup(srv.Close)
	wsc := wsman.NewClient(srv.URL, srv.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sh, err := winrs.Open(ctx, wsc, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, sh.Close(ctx))
	})
	return srv, sh
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOutputAndExitCode(t *testing.T) {
	t.Parallel()
	_, sh := open(t)
	ctx := testCtx(t)
	out, err := sh.Command("cmd.exe", "/c", "echo", "hi").Output(ctx)
	require.NoError(t, err)
	assert.Equal(t, "hi\r\n", string(out))

	c := sh.Command("cmd", "/c echo out && echo err>&2 && exit 3")
	c.Raw = true
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err = c.Run(ctx)
	var ee *winrs.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 3, ee.ExitCode())
	assert.Equal(t, 3, c.ExitCode())
	assert.Equal(t, "out \r\n", stdout.String())
	assert.Equal(t, "err \r\n", stderr.String())

	// Output captures stderr into the ExitError.
	_, err = sh.Command("nosuchprogram").Output(ctx)
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 9009, ee.Code)
	assert.Contains(t, string(ee.Stderr), "'nosuchprogram' is not recognized")

	both, err := sh.Command("cmd", "/c", "echo a&&echo b>&2").CombinedOutput(ctx)
	require.NoError(t, err)
	assert.Equal(t, "a\r\nb\r\n", string(both))
}

func TestEnvironmentDirectoryCodePageProfile(t *testing.T) {
	t.Parallel()
	srv, sh := open(t, winrs.WithEnv("env1=var1", `odd name=a "quoted" & value`), winrs.WithWorkingDirectory(`C:\Windows`), winrs.WithNoProfile(), winrs.WithIdleTimeout(time.Minute))
	got := make(chan *sessiontest.CmdCall, 1)
	srv.HandleCmd("probe", func(ctx context.Context, c *sessiontest.CmdCall) (int, error) {
		got <- c
		return 0, nil
	})
	ctx := testCtx(t)
	require.NoError(t, sh.Command("probe").Run(ctx))
	var c *sessiontest.CmdCall
	select {
	case c = <-got:
	case <-ctx.Done():
		t.Fatal("handler not called")
	}
	assert.Equal(t, "var1", c.Getenv("ENV1"))
	assert.Equal(t, `a "quoted" & value`, c.Getenv("odd name"))
	assert.Equal(t, `C:\Windows`, c.Dir)
	assert.Equal(t, uint32(winrs.DefaultCodePage), c.CodePage)
	assert.True(t, c.NoProfile)
	assert.Empty(t, c.Getenv("APPDATA"), "no profile: no APPDATA")

	out, err := sh.Command("set", "env").Output(ctx)
	require.NoError(t, err)
	assert.Equal(t, "env1=var1\r\n", string(out))
	out, err = sh.Command("cd").Output(ctx)
	require.NoError(t, err)
	assert.Equal(t, "C:\\Windows\r\n", string(out))
}

func TestCodePageOverride(t *testing.T) {
	t.Parallel()
	srv, sh := open(t, winrs.WithCodePage(437))
	cp := make(chan uint32, 1)
	srv.HandleCmd("probe", func(ctx context.Context, c *sessiontest.CmdCall) (int, error) {
		cp <- c.CodePage
		return 0, nil
	})
	require.NoError(t, sh.Command("probe").Run(testCtx(t)))
	assert.Equal(t, uint32(437), within(t, cp))
}

// TestArgumentsRoundTrip checks that QuoteArg's quoting comes back intact
// through a CommandLineToArgvW split.
func TestArgumentsRoundTrip(t *testing.T) {
	t.Parallel()
	srv, sh := open(t)
	args := []string{"plain", "", "two words", `quote"inside`, `trailing\`, `trail space\ `, `\\server\share\`, `a\\"b`, "tab\there", `"`, `\`, "ünïcödé 日本"}
	got := make(chan []string, 1)
	srv.HandleCmd("argv", func(ctx context.Context, c *sessiontest.CmdCall) (int, error) {
		got <- c.Args
		return 0, nil
	})
	require.NoError(t, sh.Command(`C:\Program Files\argv.exe`, args...).Run(testCtx(t)))
	assert.Equal(t, args, within(t, got))
}

func TestStdinStreams(t *testing.T) {
	t.Parallel()
	srv, sh := open(t)
	srv.HandleCmd("digest", func(ctx context.Context, c *sessiontest.CmdCall) (int, error) {
		h := sha256.New()
		n, err := io.Copy(h, c.Stdin)
		if err != nil {
			return 1, err
		}
		_, err = fmt.Fprintf(c.Stdout, "%d %x", n, h.Sum(nil))
		return 0, err
	})
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB: several Sends
	cmd := sh.Command("digest")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("%d %x", len(data), sha256.Sum256(data)), string(out))

	// StdinPipe: closing it ends the input; empty input works.
	cmd = sh.Command("digest")
	w, err := cmd.StdinPipe()
	require.NoError(t, err)
	var out2 bytes.Buffer
	cmd.Stdout = &out2
	require.NoError(t, cmd.Start(testCtx(t)))
	require.NoError(t, w.Close())
	require.NoError(t, cmd.Wait())
	assert.Equal(t, fmt.Sprintf("0 %x", sha256.Sum256(nil)), out2.String())
}

func TestLargeOutputStreams(t *testing.T) {
	t.Parallel()
	srv, sh := open(t)
	const total = 8 << 20
	srv.HandleCmd("spew", func(ctx context.Context, c *sessiontest.CmdCall) (int, error) {
		chunk := bytes.Repeat([]byte{'x'}, 32<<10)
		for n := 0; n < total; n += len(chunk) {
			if _, err := c.Stdout.Write(chunk); err != nil {
				return 1, err
			}
		}
		return 0, nil
	})
	var n countingWriter
	cmd := sh.Command("spew")
	cmd.Stdout = &n
	require.NoError(t, cmd.Run(testCtx(t)))
	assert.Equal(t, int64(total), int64(n))
}

type countingWriter int64

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}

func TestCancelStopsCommand(t *testing.T) {
	t.Parallel()
	srv, sh := open(t)
	stopped := make(chan error, 1)
	srv.HandleCmd("forever", func(ctx context.Context, c *sessiontest.CmdCall) (int, error) {
		_, err := io.WriteString(c.Stdout, "started\r\n")
		if err != nil {
			return 1, err
		}
		<-ctx.Done()
		stopped <- ctx.Err()
		return 0, nil
	})
	ctx, cancel := context.WithCancel(testCtx(t))
	cmd := sh.Command("forever")
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	require.NoError(t, cmd.Start(ctx))
	buf := make([]byte, 9)
	_, err := io.ReadFull(pr, buf)
	require.NoError(t, err)
	go io.Copy(io.Discard, pr) //nolint:errcheck // drains until the pipe closes
	cancel()
	err = cmd.Wait()
	pw.Close()
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, -1, cmd.ExitCode())
	select {
	case err := <-stopped:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("the handler was not stopped")
	}
}

func TestSkipCmdShellNotFound(t *testing.T) {
	t.Parallel()
	srv, sh := open(t)
	srv.HandleCmd("tool", func(ctx context.Context, c *sessiontest.CmdCall) (int, error) {
		_, err := io.WriteString(c.Stdout, "ran\n")
		return 0, err
	})
	ctx := testCtx(t)
	cmd := sh.Command("tool.exe")
	cmd.SkipCmdShell = true
	err := cmd.Run(ctx)
	require.ErrorIs(t, err, winrs.ErrNotFound)
	var f *wsman.Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, wsman.CodeFileNotFound, f.WSManCode)
	assert.Equal(t, "Shell cmd plugin", f.Provider) // as Windows names it
	assert.Equal(t, "The system cannot find the file specified.", strings.TrimSpace(f.Message))

	cmd = sh.Command(`C:\Tools\tool.exe`)
	cmd.SkipCmdShell = true
	out, err := cmd.Output(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ran\n", string(out))
}

func TestRunPowerShell(t *testing.T) {
	t.Parallel()
	_, sh := open(t)
	ctx := testCtx(t)
	out, err := sh.RunPowerShell(ctx, `Write-Output "it's 'quoted' & more | not a pipe > nor a file"`)
	require.NoError(t, err)
	assert.Equal(t, "it's 'quoted' & more | not a pipe > nor a file\r\n", string(out))

	out, err = sh.RunPowerShell(ctx, "Write-Output before; Write-Warning careful; Write-Error 'it broke'")
	var ee *winrs.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 1, ee.Code)
	assert.Equal(t, "before\r\n", string(out))
	assert.Contains(t, string(ee.Stderr), "it broke")
	assert.Contains(t, string(ee.Stderr), "WARNING: careful")
	assert.NotContains(t, string(ee.Stderr), "<Objs")

	// The raw stderr is a CLIXML document whose records decode typed.
	cmd := sh.PowerShell("Write-Progress -Activity Copying; Write-Error nope")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.Error(t, cmd.Run(ctx))
	require.True(t, strings.HasPrefix(stderr.String(), winrs.CLIXMLHeader+"\r\n<Objs"), stderr.String())
	var streams []string
	for rec, err := range winrs.DecodeCLIXML(&stderr) {
		require.NoError(t, err)
		streams = append(streams, rec.Stream)
		if rec.Stream == winrs.StreamProgress {
			require.NotNil(t, rec.Progress)
			assert.Equal(t, "Copying", rec.Progress.Activity)
		}
	}
	assert.Contains(t, streams, winrs.StreamProgress)
	assert.Contains(t, streams, winrs.StreamError)
}

// TestNTLMSealing runs a command through auth.Transport: NTLM over plain
// HTTP with every message sealed, as Windows requires by default.
func TestNTLMSealing(t *testing.T) {
	t.Parallel()
	srv := sessiontest.NewUnstartedServer()
	srv.Users = map[string]string{"alice": "s3cret"}
	srv.Auth = sessiontest.AuthConfig{Negotiate: true}
	srv.Start()
	t.Cleanup(srv.Close)
	base := http.DefaultTransport.(*http.Transport).Clone()
	tr := &auth.Transport{Mechanism: &auth.NTLM{Username: "alice", Password: "s3cret"}, Base: base, TrustedHosts: []string{"127.0.0.1"}}
	t.Cleanup(tr.CloseIdleConnections)
	wsc := wsman.NewClient(srv.URL, &http.Client{Transport: tr})
	ctx := testCtx(t)
	sh, err := winrs.Open(ctx, wsc)
	require.NoError(t, err)
	out, err := sh.Command("whoami").Output(ctx)
	require.NoError(t, err)
	assert.Equal(t, "sessiontest\\alice\r\n", string(out))
	require.NoError(t, sh.Close(ctx))
	require.NoError(t, sh.Close(ctx), "closing twice")
	require.ErrorIs(t, sh.Command("whoami").Run(ctx), winrs.ErrClosed)

	// A wrong password is refused with a typed error.
	bad := &auth.Transport{Mechanism: &auth.NTLM{Username: "alice", Password: "wrong"}, Base: base.Clone(), TrustedHosts: []string{"127.0.0.1"}}
	t.Cleanup(bad.CloseIdleConnections)
	_, err = winrs.Open(ctx, wsman.NewClient(srv.URL, &http.Client{Transport: bad}))
	require.Error(t, err)
	assert.ErrorIs(t, err, auth.ErrAccessDenied)
}

// Each Receive's buffer goes back to wsman's pool once its data is
// written: the output of many responses, stdout and stderr interleaved
// and every chunk different, must still arrive whole and in order.
func TestOutputIntactAcrossManyReceives(t *testing.T) {
	t.Parallel()
	srv, sh := open(t)
	const chunks, size = 256, 12 << 10
	chunk := func(stream string, i int) []byte {
		b := make([]byte, size)
		seed := sha256.Sum256(fmt.Appendf(nil, "%s %d", stream, i))
		for j := range b {
			b[j] = seed[j%len(seed)] ^ byte(j/len(seed))
		}
		return b
	}
	srv.HandleCmd("spew2", func(ctx context.Context, c *sessiontest.CmdCall) (int, error) {
		for i := range chunks {
			if _, err := c.Stdout.Write(chunk("stdout", i)); err != nil {
				return 1, err
			}
			if _, err := c.Stderr.Write(chunk("stderr", i)); err != nil {
				return 1, err
			}
		}
		return 0, nil
	})
	var wantOut, wantErr bytes.Buffer
	for i := range chunks {
		wantOut.Write(chunk("stdout", i))
		wantErr.Write(chunk("stderr", i))
	}
	var stdout, stderr bytes.Buffer
	cmd := sh.Command("spew2")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(testCtx(t)))
	assert.True(t, bytes.Equal(wantOut.Bytes(), stdout.Bytes()), "stdout differs (%d bytes, want %d)", stdout.Len(), wantOut.Len())
	assert.True(t, bytes.Equal(wantErr.Bytes(), stderr.Bytes()), "stderr differs (%d bytes, want %d)", stderr.Len(), wantErr.Len())
}

// within takes the value a handler left in ch, failing the test if there is
// none within 10 s.
func within[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("the handler left no value within 10 s")
		panic("unreachable")
	}
}
