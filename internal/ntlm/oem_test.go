package ntlm

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// Python's ntlm-auth (pywinrm's NTLM) offers OEM strings only; the server
// answers in OEM as MS-NLMP 3.2.5.1.1 says, and reads the AUTHENTICATE's
// names as OEM.
func TestServerAnswersOEMClients(t *testing.T) {
	// ntlm-auth 1.5's NEGOTIATE: flags 0xE2889032 (OEM, no UNICODE).
	neg, _ := base64.StdEncoding.DecodeString("TlRMTVNTUAABAAAAMpCI4gAAAAAoAAAAAAAAACgAAAAGAbEdAAAADw==")
	s, err := NewServer(testServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Step(context.Background(), neg)
	if err != nil {
		t.Fatalf("OEM NEGOTIATE refused: %v", err)
	}
	chal, err := parseChallenge(out)
	if err != nil {
		t.Fatal(err)
	}
	if chal.flags&flagUnicode != 0 || chal.flags&flagOEM == 0 {
		t.Errorf("CHALLENGE flags %#x: want OEM without UNICODE", chal.flags)
	}
	if string(chal.targetName) != s.cfg.NetBIOSDomain {
		t.Errorf("target name %q, want %q in OEM", chal.targetName, s.cfg.NetBIOSDomain)
	}
	// Neither Unicode nor OEM: refused.
	bad := append([]byte(nil), neg...)
	bad[12] &^= byte(flagOEM)
	s2, _ := NewServer(testServerConfig())
	if _, err := s2.Step(context.Background(), bad); !errors.Is(err, gss.ErrUnsupported) {
		t.Errorf("no charset: %v, want ErrUnsupported", err)
	}
	if got := fromOEM([]byte("Alice")); got != "Alice" {
		t.Errorf("fromOEM = %q", got)
	}
}
