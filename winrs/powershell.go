package winrs

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"unicode/utf16"
)

// PowerShell returns a Cmd that runs script with
//
//	powershell.exe -NoProfile -NonInteractive -EncodedCommand <base64>
//
// the script encoded as UTF-16LE then base64, as pywinrm's run_ps does:
// the script reaches PowerShell intact whatever quotes and metacharacters
// it holds. Its stderr is CLIXML (see CLIXMLWriter). Windows limits a
// command line to 8191 characters through cmd.exe (32767 with
// SkipCmdShell), which bounds the script to about 3,000 characters; send
// longer scripts on stdin (powershell.exe -Command -).
func (sh *Shell) PowerShell(script string) *Cmd {
	return sh.Command("powershell.exe", "-NoProfile", "-NonInteractive", "-EncodedCommand", EncodePowerShell(script))
}

// EncodePowerShell returns the -EncodedCommand form of script: base64 of
// its UTF-16LE encoding.
func EncodePowerShell(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// RunPowerShell runs script (see PowerShell) and returns its standard
// output. Its stderr is decoded into readable text (CLIXMLText): when
// powershell.exe exits non-zero the error is an *ExitError whose Stderr
// holds that text, the script's error messages.
func (sh *Shell) RunPowerShell(ctx context.Context, script string) ([]byte, error) {
	cmd := sh.PowerShell(script)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run(ctx)
	var ee *ExitError
	if errors.As(err, &ee) {
		text, derr := CLIXMLText(errb.Bytes())
		if derr != nil {
			text = errb.String()
		}
		ee.Stderr = []byte(text)
	}
	return out.Bytes(), err
}
