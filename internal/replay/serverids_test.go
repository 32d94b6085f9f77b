package replay

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestServerShellIDs: a recording in which the server gave the shell its
// own id (older WinRM: SelectorSet only, no rsp:Shell body) is keyed on
// the server's id, and the replay server answers with an id of its own:
// a client that keeps naming the id it proposed finds no shell; one that
// takes the server's answer gets every recorded exchange, with its own
// pool ID as the RPID of the PSRP messages.
func TestServerShellIDs(t *testing.T) {
	t.Parallel()
	orig := mustLoad(t, "test_psrp_no_profile.yml")
	conv, err := orig.WithServerShellIDs()
	if err != nil {
		t.Fatal(err)
	}
	create := conv.Entries[0]
	if create.Action() != "Create" || !create.ServerAssigned() || orig.Entries[0].ServerAssigned() {
		t.Fatalf("Create entry: server assigned = %v (original %v)", create.ServerAssigned(), orig.Entries[0].ServerAssigned())
	}
	if strings.Contains(create.Response, "rsp:Shell ") || strings.Contains(create.Response, "<rsp:Shell>") {
		t.Errorf("converted CreateResponse still has an rsp:Shell body")
	}
	if got, want := conv.recordedShellID(0), create.Resp.ShellID; got != want || strings.EqualFold(got, create.Req.ShellID) {
		t.Errorf("recorded shell id = %s, want the server's %s (client proposed %s)", got, want, create.Req.ShellID)
	}
	if conv.recordedPoolID(0) != create.Req.ShellID {
		t.Errorf("recorded pool id = %s, want the client's %s", conv.recordedPoolID(0), create.Req.ShellID)
	}
	for i, e := range conv.Entries {
		if e.Shell != orig.Entries[i].Shell || e.Command != orig.Entries[i].Command {
			t.Errorf("entry %d (%s) targets shell %d command %d, want %d %d as keyed before", i, e.Action(), e.Shell, e.Command, orig.Entries[i].Shell, orig.Entries[i].Command)
		}
	}

	t.Run("client keeps its own id", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, conv)
		c := &testClient{t: t, srv: srv}
		r := c.create()
		if r.env.ShellID == "" || strings.EqualFold(r.env.ShellID, c.shell) {
			t.Fatalf("CreateResponse ShellId = %q, want one of the server's own (client proposed %s)", r.env.ShellID, c.shell)
		}
		c.receive("") // names the proposed id: no such shell
		u := srv.Unmatched()
		if len(u) != 1 || u[0].Shell != -2 {
			t.Fatalf("unmatched = %v, want the Receive on an unknown shell", u)
		}
	})

	t.Run("client takes the server's id", func(t *testing.T) {
		t.Parallel()
		srv := NewServer(t, conv)
		c := &testClient{t: t, srv: srv}
		r := c.create()
		pool := c.shell
		c.shell = r.env.ShellID
		if got := srv.ShellIDs(); len(got) != 1 || got[0] != c.shell {
			t.Fatalf("ShellIDs = %v, want [%s]", got, c.shell)
		}
		rpid := GUIDBytesLE(uuid.MustParse(pool))
		var msgs []Message
		for range 2 {
			msgs = append(msgs, messages(t, c.receive("").env)...)
		}
		if len(msgs) != 3 {
			t.Fatalf("pool messages = %+v", msgs)
		}
		for _, m := range msgs[1:] {
			if m.RPID != rpid {
				t.Errorf("type %#x RPID = %x, want the client's pool ID %x", m.Type, m.RPID, rpid)
			}
		}
		cmd, r := c.command()
		if r.env.CommandID != cmd {
			t.Errorf("CommandResponse CommandId = %s, want %s", r.env.CommandID, cmd)
		}
		for _, m := range messages(t, c.receive(cmd).env) {
			if m.RPID != rpid {
				t.Errorf("pipeline type %#x RPID = %x, want %x", m.Type, m.RPID, rpid)
			}
		}
		for _, sig := range conv.Entries {
			if sig.Action() == "Signal" {
				c.post(actShell+"Signal", "", c.shell, `<rsp:Signal CommandId="`+cmd+`"><rsp:Code>`+sig.Req.SignalCode+`</rsp:Code></rsp:Signal>`)
			}
		}
		if r := c.post(actTransfer+"Delete", "", c.shell, ""); r.status != 200 {
			t.Errorf("Delete: %d", r.status)
		}
		if u := srv.Unmatched(); len(u) != 0 {
			t.Errorf("unmatched: %v", u)
		}
		if u := srv.Unserved(); len(u) != 0 {
			t.Errorf("unserved: %d entries, first #%d %s", len(u), u[0].Index, u[0].Action())
		}
	})
}
