package ntlm

import (
	"bytes"
	"context"
	"encoding/hex"
	"testing"
)

// Values of MS-NLMP 4.2 as PROTOCOL.md §5 lists them.
var (
	vecServerChallenge = [8]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	vecClientChallenge = [8]byte{0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa}
	vecRandomKey       = [16]byte{0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55}
	vecTime            = [8]byte{}
	vecVersion         = version{0x05, 0x01, 0x28, 0x0a, 0, 0, 0, 0x0f}
	vecAVPairs         = unhex("02000c0044006f006d00610069006e0001000c00530065007200760065007200" + "00000000")
	vecPlaintext       = unhex("50006c00610069006e007400650078007400")
	vecChallenge       = unhex("4e544c4d53535000" + "02000000" + "0c000c0038000000" + "33828ae2" +
		"0123456789abcdef" + "0000000000000000" + "2400240044000000" + "060070170000000f" +
		"530065007200760065007200" + "02000c0044006f006d00610069006e0001000c00530065007200760065007200" + "00000000")
	vecExportedSessionKey = vecRandomKey[:]
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func wantHex(t *testing.T, name string, got []byte, want string) {
	t.Helper()
	if g := hex.EncodeToString(got); g != want {
		t.Errorf("%s = %s, want %s", name, g, want)
	}
}

func TestVectorNTLMv2Keys(t *testing.T) {
	ntHash := ntowfv1("Password")
	wantHex(t, "NTOWFv1", ntHash, "a4f49c406510bdcab6824ee7c30fd852")
	key := ntowfv2(ntHash, "User", "Domain")
	wantHex(t, "NTOWFv2", key, "0c868a403bfd7a93a3001ef22ef02e3f")

	temp := ntlmv2Temp(vecTime, vecClientChallenge, vecAVPairs)
	wantHex(t, "temp", temp, "01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000")
	nt, lm, sbk := ntlmv2Response(key, vecServerChallenge, vecClientChallenge, temp)
	wantHex(t, "NTProofStr", nt[:16], "68cd0ab851e51c96aabc927bebef6a1c")
	wantHex(t, "LMv2", lm, "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
	wantHex(t, "SessionBaseKey", sbk, "8de40ccadbc14a82f15cb0ad0de95ca3")
	wantHex(t, "EncryptedRandomSessionKey", rc4K(sbk, vecRandomKey[:]), "c5dad2544fc9799094ce1ce90bc9d03e")

	const flags = 0xE28A8233
	wantHex(t, "ClientSignKey", signKey(vecExportedSessionKey, true), "4788dc861b4782f35d43fd98fe1a2d39")
	wantHex(t, "ServerSignKey", signKey(vecExportedSessionKey, false), "d04d6f10741041d1d246d64188d7a8ad")
	wantHex(t, "ClientSealKey", sealKey(flags, vecExportedSessionKey, true), "59f600973cc4960a25480a7c196e4c58")
	wantHex(t, "ServerSealKey", sealKey(flags, vecExportedSessionKey, false), "9355f3a957c1583d25c4c2f11e40390e")
}

// The SEALKEY table of PROTOCOL.md §5.2 for the three strengths.
func TestVectorSealKeyStrengths(t *testing.T) {
	for _, tc := range []struct {
		name           string
		flags          uint32
		client, server string
	}{
		{"128", flag128 | flag56, "59f600973cc4960a25480a7c196e4c58", "9355f3a957c1583d25c4c2f11e40390e"},
		{"56", flag56, "a5f7253c1065e8d3d68642040e71cfe0", "583e2f98959b385cd158f3734b5f5d3f"},
		{"40", 0, "42f964a471091a02ff4a77455366e4e5", "c5d3853b406b7c1241c595f0ce0750e2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantHex(t, "client", sealKey(tc.flags, vecExportedSessionKey, true), tc.client)
			wantHex(t, "server", sealKey(tc.flags, vecExportedSessionKey, false), tc.server)
		})
	}
}

// vectorContexts returns a client and a server security state keyed with
// the exported session key of MS-NLMP 4.2.4.
func vectorContexts(flags uint32) (client, server *security) {
	client, server = &security{}, &security{}
	client.init(flags, vecExportedSessionKey, true)
	server.init(flags, vecExportedSessionKey, false)
	return client, server
}

func TestVectorSealClientSeq0And1(t *testing.T) {
	client, server := vectorContexts(0xE2888235)
	for _, want := range []struct{ sig, sealed string }{
		{"010000007fb38ec5c55d497600000000", "54e50165bf1936dc996020c1811b0f06fb5f"},
		{"01000000255405955d31d8c401000000", "64c308e09ea236e7f4232553c94a01e700fa"},
	} {
		sig, sealed, err := client.wrap(vecPlaintext)
		if err != nil {
			t.Fatal(err)
		}
		wantHex(t, "signature", sig, want.sig)
		wantHex(t, "sealed", sealed, want.sealed)
		got, err := server.unwrap(unhex(want.sig), unhex(want.sealed))
		if err != nil {
			t.Fatalf("server unwrap of the vector: %v", err)
		}
		if !bytes.Equal(got, vecPlaintext) {
			t.Errorf("unwrapped %x", got)
		}
	}
}

func TestVectorSealServerToClient(t *testing.T) {
	client, server := vectorContexts(0xE2888235)
	sig, sealed, err := server.wrap(vecPlaintext)
	if err != nil {
		t.Fatal(err)
	}
	wantHex(t, "signature", sig, "01000000b298b847ce7c580700000000")
	wantHex(t, "sealed", sealed, "160871b730ba74e946c453d7465b54278dd0")
	got, err := client.unwrap(sig, sealed)
	if err != nil || !bytes.Equal(got, vecPlaintext) {
		t.Fatalf("client unwrap: %x, %v", got, err)
	}
}

// Without KEY_EXCH the checksum is not RC4'd (pyspnego test_security.py).
func TestVectorSealWithoutKeyExch(t *testing.T) {
	client, _ := vectorContexts(0xE2888235 &^ flagKeyExch)
	sig, sealed, err := client.wrap(vecPlaintext)
	if err != nil {
		t.Fatal(err)
	}
	wantHex(t, "signature", sig, "0100000070352851f256430900000000")
	wantHex(t, "sealed", sealed, "54e50165bf1936dc996020c1811b0f06fb5f")
}

func TestVectorChallengeParse(t *testing.T) {
	m, err := parseChallenge(vecChallenge)
	if err != nil {
		t.Fatal(err)
	}
	if m.flags != 0xE28A8233 {
		t.Errorf("flags %#x", m.flags)
	}
	if m.serverChallenge != vecServerChallenge {
		t.Errorf("server challenge %x", m.serverChallenge)
	}
	if got := fromUTF16LE(m.targetName); got != "Server" {
		t.Errorf("target name %q", got)
	}
	if !bytes.Equal(m.targetInfo, vecAVPairs) {
		t.Errorf("target info %x", m.targetInfo)
	}
	if m.version != (version{0x06, 0x00, 0x70, 0x17, 0, 0, 0, 0x0f}) {
		t.Errorf("version %x", m.version)
	}
	pairs, err := parseAVPairs(m.targetInfo)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 2 || pairs[0].id != avNbDomainName || fromUTF16LE(pairs[0].value) != "Domain" ||
		pairs[1].id != avNbComputerName || fromUTF16LE(pairs[1].value) != "Server" {
		t.Errorf("AV pairs %+v", pairs)
	}
	// The encoder gives back the same bytes.
	if again := m.marshal(); !bytes.Equal(again, vecChallenge) {
		t.Errorf("re-encoded challenge\n%x\nwant\n%x", again, vecChallenge)
	}
}

// vectorAuthenticate is the AUTHENTICATE of MS-NLMP 4.2.4 assembled from
// the fields PROTOCOL.md §5.1 lists.
func vectorAuthenticate() []byte {
	return unhex("4e544c4d53535000" + "03000000" +
		"180018006c000000" + "5400540084000000" + "0c000c0048000000" +
		"0800080054000000" + "100010005c000000" + "10001000d8000000" +
		"358288e2" + "0501280a0000000f" +
		"44006f006d00610069006e00" + "5500730065007200" + "43004f004d0050005500540045005200" +
		"86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa" +
		"68cd0ab851e51c96aabc927bebef6a1c" +
		"01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000" +
		"c5dad2544fc9799094ce1ce90bc9d03e")
}

// vectorClient is a Client whose randomness, clock and version are those
// of MS-NLMP 4.2.4.
func vectorClient() *Client {
	c, err := NewClient(ClientConfig{Username: `Domain\User`, Password: "Password", Workstation: "COMPUTER"})
	if err != nil {
		panic(err)
	}
	cc, rk, ts, v := vecClientChallenge, vecRandomKey, vecTime, vecVersion
	c.hooks = clientHooks{clientChallenge: &cc, randomSessionKey: &rk, timestamp: &ts, version: &v}
	return c
}

func TestVectorClientAuthenticate(t *testing.T) {
	c := vectorClient()
	neg, err := c.Step(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantHex(t, "NEGOTIATE", neg, "4e544c4d5353500001000000358288e2"+"0000000028000000"+"0000000028000000"+"0501280a0000000f")
	auth, err := c.Step(context.Background(), vecChallenge)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Established() {
		t.Fatal("not established")
	}
	want := vectorAuthenticate()
	if !bytes.Equal(auth, want) {
		t.Fatalf("AUTHENTICATE\n%x\nwant\n%x", auth, want)
	}
	// Its first sealed message is the 4.2.4.4 vector.
	sig, sealed, err := c.Wrap(vecPlaintext)
	if err != nil {
		t.Fatal(err)
	}
	wantHex(t, "signature", sig, "010000007fb38ec5c55d497600000000")
	wantHex(t, "sealed", sealed, "54e50165bf1936dc996020c1811b0f06fb5f")
}

func TestVectorAuthenticateParse(t *testing.T) {
	m, err := parseAuthenticate(vectorAuthenticate())
	if err != nil {
		t.Fatal(err)
	}
	if m.flags != 0xE2888235 {
		t.Errorf("flags %#x", m.flags)
	}
	for _, f := range []struct {
		name string
		got  []byte
		want string
	}{
		{"domain", m.domain, "44006f006d00610069006e00"},
		{"user", m.user, "5500730065007200"},
		{"workstation", m.workstation, "43004f004d0050005500540045005200"},
		{"LM", m.lmResponse, "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa"},
		{"NTProofStr", m.ntResponse[:16], "68cd0ab851e51c96aabc927bebef6a1c"},
		{"EncryptedRandomSessionKey", m.encryptedRandomSessionKey, "c5dad2544fc9799094ce1ce90bc9d03e"},
		{"version", m.version[:], "0501280a0000000f"},
	} {
		wantHex(t, f.name, f.got, f.want)
	}
}

// The server accepts the vector AUTHENTICATE, derives the same keys and
// opens the vector's sealed message.
func TestVectorServerAccepts(t *testing.T) {
	s, err := NewServer(ServerConfig{Password: func(domain, user string) (string, bool) {
		return "Password", domain == "Domain" && user == "User"
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.step, s.serverChallenge, s.challenge = 1, vecServerChallenge, vecChallenge
	if _, err := s.Step(context.Background(), vectorAuthenticate()); err != nil {
		t.Fatal(err)
	}
	if s.UserName() != `Domain\User` {
		t.Errorf("user %q", s.UserName())
	}
	got, err := s.Unwrap(unhex("010000007fb38ec5c55d497600000000"), unhex("54e50165bf1936dc996020c1811b0f06fb5f"))
	if err != nil || !bytes.Equal(got, vecPlaintext) {
		t.Fatalf("unwrap: %x, %v", got, err)
	}
}
