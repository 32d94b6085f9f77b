package session

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/wsman"
)

// Info describes a session (a PowerShell shell) as the server reports it,
// like a PSSession of Get-PSSession -ComputerName.
type Info struct {
	// ID is the runspace pool ID (the ShellId): what Connect takes.
	ID uuid.UUID
	// Name is the name given with WithName (New-PSSession -Name), or "".
	Name string
	// ConfigurationName is the session configuration, e.g.
	// "Microsoft.PowerShell"; ResourceURI is its full WS-Man resource URI.
	ConfigurationName string
	ResourceURI       string
	// Owner is the user who created the session; ClientIP the address it
	// was created from.
	Owner    string
	ClientIP string
	// State is StateOpened for a shell the server reports Connected (to
	// some client) and StateDisconnected for a Disconnected one.
	State State
	// Availability is Busy while the shell runs at least one pipeline,
	// else AvailabilityNone: the server does not say more.
	Availability Availability
	// IdleTimeout is how long the server keeps the shell without activity;
	// ShellRunTime and ShellInactivity are the server's clocks for it.
	IdleTimeout     time.Duration
	ShellRunTime    time.Duration
	ShellInactivity time.Duration
	// BufferMode is BufferBlock or BufferDrop: what the server does with output
	// while the shell is disconnected.
	BufferMode BufferMode
	// ProcessID is the server process hosting the shell.
	ProcessID int
	// Commands are the pipelines (WS-Man commands) the server keeps for the
	// shell, running or with output not received yet.
	Commands []uuid.UUID
}

// List lists the PowerShell sessions the caller owns on the host,
// connected or disconnected (Get-PSSession -ComputerName), with their
// pipelines (one more round trip per session). WinRS cmd shells are left
// out.
func (c *Client) List(ctx context.Context) (_ []Info, err error) {
	defer func() { err = accessDenied(err) }()
	wsc := c.WSMan()
	shells, err := wsc.EnumerateShells(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("session: list: %w", err)
	}
	out := make([]Info, 0, len(shells))
	for i := range shells {
		sh := &shells[i]
		if _, ok := configurationName(sh.ResourceURI); !ok {
			continue // a WinRS shell
		}
		info, err := infoFromShell(sh)
		if err != nil {
			return nil, err
		}
		ids, err := wsc.EnumerateCommands(ctx, sh.ID)
		if err != nil {
			return nil, fmt.Errorf("session: list pipelines of %v: %w", info.ID, err)
		}
		info.Commands = make([]uuid.UUID, 0, len(ids))
		for _, id := range ids {
			u, err := uuid.Parse(id)
			if err != nil {
				return nil, fmt.Errorf("session: list: CommandId %q is not a GUID", id)
			}
			info.Commands = append(info.Commands, u)
		}
		if len(info.Commands) > 0 {
			info.Availability = Busy
		}
		out = append(out, info)
	}
	return out, nil
}

// infoFromShell maps the server's description of a PowerShell shell.
func infoFromShell(sh *wsman.ShellInfo) (Info, error) {
	id, err := uuid.Parse(sh.ID)
	if err != nil {
		return Info{}, fmt.Errorf("session: list: ShellId %q is not a GUID", sh.ID)
	}
	name, _ := configurationName(sh.ResourceURI)
	info := Info{
		ID:                id,
		Name:              sh.Name,
		ResourceURI:       sh.ResourceURI,
		ConfigurationName: name,
		Owner:             sh.Owner,
		ClientIP:          sh.ClientIP,
		State:             StateOpened,
		IdleTimeout:       sh.IdleTimeout,
		ShellRunTime:      sh.ShellRunTime,
		ShellInactivity:   sh.ShellInactivity,
		BufferMode:        BufferMode(sh.BufferMode),
		ProcessID:         sh.ProcessID,
	}
	if strings.EqualFold(sh.State, "Disconnected") {
		info.State = StateDisconnected
	}
	return info, nil
}

// configurationName returns the session configuration of a PowerShell
// resource URI; ok is false for any other resource (a WinRS cmd shell).
func configurationName(uri string) (name string, ok bool) {
	n := len(wsman.ResourcePowerShellPrefix)
	if len(uri) < n || !strings.EqualFold(uri[:n], wsman.ResourcePowerShellPrefix) {
		return "", false
	}
	return uri[n:], true
}
