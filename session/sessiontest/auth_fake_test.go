package sessiontest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// The fake mechanism exercises the endpoint's plumbing without a real
// mechanism: "HELLO" → "CHALLENGE"; "AUTH user pass [hex(cb)]" → "DONE" once the
// password matches; sealing XORs the data and carries an 8-byte header of
// sequence number and CRC-32, so tampering and replay are caught.

type fakeSealer struct {
	sendSeq, recvSeq uint32
	sendKey, recvKey byte
}

func (f *fakeSealer) Wrap(msg []byte) ([]byte, []byte, error) {
	h := binary.LittleEndian.AppendUint32(nil, f.sendSeq)
	h = binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE(append(h[:4:4], msg...)))
	f.sendSeq++
	data := make([]byte, len(msg))
	for i, b := range msg {
		data[i] = b ^ f.sendKey
	}
	return h, data, nil
}

func (f *fakeSealer) Unwrap(header, data []byte) ([]byte, error) {
	if len(header) != 8 {
		return nil, fmt.Errorf("fake: header: %w", gss.ErrBadToken)
	}
	msg := make([]byte, len(data))
	for i, b := range data {
		msg[i] = b ^ f.recvKey
	}
	if binary.LittleEndian.Uint32(header) != f.recvSeq {
		return nil, fmt.Errorf("fake: %w", gss.ErrSequence)
	}
	if crc32.ChecksumIEEE(append(header[:4:4], msg...)) != binary.LittleEndian.Uint32(header[4:]) {
		return nil, fmt.Errorf("fake: %w", gss.ErrIntegrity)
	}
	f.recvSeq++
	return msg, nil
}

type fakeAcceptor struct {
	fakeSealer
	users map[string]string
	cb    bindingsConfig
	step  int
	user  string
	done  bool
}

func (a *fakeAcceptor) Step(_ context.Context, in []byte) ([]byte, error) {
	a.step++
	switch {
	case a.step == 1 && string(in) == "HELLO":
		return []byte("CHALLENGE"), nil
	case a.step == 2 && bytes.HasPrefix(in, []byte("AUTH ")):
		f := strings.Fields(string(in[5:]))
		if len(f) < 2 {
			return nil, fmt.Errorf("fake: %w", gss.ErrBadToken)
		}
		var cb string
		if len(f) > 2 {
			cb = f[2]
		}
		if a.cb.bindings != nil && cb != "" && cb != hex.EncodeToString(a.cb.bindings.ApplicationData) {
			return nil, fmt.Errorf("fake: %w", gss.ErrChannelBindings)
		}
		if a.cb.require && cb == "" {
			return nil, fmt.Errorf("fake: %w", gss.ErrChannelBindings)
		}
		var pass string
		var ok bool
		for u, p := range a.users {
			if strings.EqualFold(u, bareUser(f[0])) {
				pass, ok = p, true
			}
		}
		if !ok || pass != f[1] {
			return nil, fmt.Errorf("fake: %w", gss.ErrAuthFailed)
		}
		a.user, a.done = `FAKEDOM\`+f[0], true
		a.sendKey, a.recvKey = 0x22, 0x11
		return []byte("DONE"), nil
	}
	return nil, fmt.Errorf("fake: step %d: %w", a.step, gss.ErrBadToken)
}

func (a *fakeAcceptor) Established() bool { return a.done }
func (a *fakeAcceptor) UserName() string  { return a.user }

type fakeInitiator struct {
	fakeSealer
	user, pass, cb string
	step           int
	done           bool
}

func (i *fakeInitiator) Step(_ context.Context, in []byte) ([]byte, error) {
	i.step++
	switch {
	case i.step == 1:
		return []byte("HELLO"), nil
	case i.step == 2 && string(in) == "CHALLENGE":
		return []byte(strings.TrimSpace("AUTH " + i.user + " " + i.pass + " " + i.cb)), nil
	case i.step == 3 && string(in) == "DONE":
		i.done = true
		i.sendKey, i.recvKey = 0x11, 0x22
		return nil, nil
	}
	return nil, fmt.Errorf("fake initiator: step %d: %w", i.step, gss.ErrBadToken)
}

func (i *fakeInitiator) Established() bool { return i.done }

// useFakeMechanism makes every scheme of s use the fake mechanism.
func useFakeMechanism(s *Server) {
	s.newAcceptor = func(scheme string, first []byte, cb bindingsConfig) (gss.Acceptor, error) {
		return &fakeAcceptor{users: s.Users, cb: cb}, nil
	}
}
