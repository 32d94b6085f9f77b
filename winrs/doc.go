// Package winrs runs native commands on a Windows host over the WinRS cmd
// shell resource (http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd),
// the way winrs.exe, pywinrm's run_cmd and Packer's WinRM communicator do,
// with the authentication and message encryption of the *wsman.Client it
// is given.
//
// The API is shaped like os/exec. A session.Client gives the WS-Man client,
// with its authentication and sealing:
//
//	c, err := session.NewClient("win01.corp.example", session.WithNegotiate(user, password))
//	defer c.Close()
//	sh, err := winrs.Open(ctx, c.WSMan(), winrs.WithWorkingDirectory(`C:\Temp`))
//	defer sh.Close(ctx)
//	cmd := sh.Command("ipconfig", "/all")
//	cmd.Stdout = os.Stdout
//	err = cmd.Run(ctx) // *ExitError for a non-zero exit code
//
// A Shell is one remote cmd.exe environment (its working directory,
// environment, code page and profile are fixed when it is opened); a Cmd is
// one process started in it. Stdin is sent in chunks sized from the
// client's envelope size and stdout and stderr are written as they
// arrive, so memory stays flat whatever the size of the data.
//
// # Command lines
//
// Windows hands a process its command line as one string, which the
// process splits itself; most programs (those built with the Microsoft C
// runtime, and CommandLineToArgvW) split it by the rules QuoteArg follows.
// Command quotes Args[1:] (and Path) by those rules, so each argument
// arrives intact. cmd.exe does not follow them: its metacharacters
// (& | < > ^ %) act even inside arguments; set Cmd.Raw to send a command
// line written for cmd.exe as is.
//
// # PowerShell
//
// Shell.PowerShell runs a script through powershell.exe -EncodedCommand,
// as pywinrm's run_ps does. powershell.exe writes its error, warning,
// verbose, debug and progress records to stderr as "#< CLIXML" followed by
// an Export-Clixml document; DecodeCLIXML and CLIXMLWriter turn that into
// readable text and typed records.
package winrs
