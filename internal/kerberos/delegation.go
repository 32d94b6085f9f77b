package kerberos

import (
	"errors"
	"fmt"

	"github.com/jcmturner/gofork/encoding/asn1"
	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// ErrNotForwardable: delegation was asked for (ClientConfig.Delegate) but
// the user's TGT is not forwardable, or the KDC refused to forward it. Get
// a forwardable TGT (kinit -f, forwardable = true in krb5.conf) or have the
// principal allowed to forward (MIT: modprinc +allow_forwardable; Active
// Directory: the account is not "sensitive and cannot be delegated"). It
// comes together with gss.ErrAuthFailed.
var ErrNotForwardable = errors.New("kerberos: TGT is not forwardable")

// forwardedTGT is a TGT the KDC issued with the FORWARDED flag, and what
// its reply said about it.
type forwardedTGT struct {
	tkt  messages.Ticket
	info messages.EncKDCRepPart
}

// forwardTGT asks the KDC for a forwarded copy of the login TGT (RFC 4120
// 2.6: a TGS-REQ for krbtgt/REALM with the FORWARDED option, authenticated
// by the login TGT). The copy has no addresses, so that it works from the
// acceptor's host.
func (c *Client) forwardTGT(cl *krbclient.Client, tgt messages.Ticket, tgtKey types.EncryptionKey, tgtFlags asn1.BitString, realm string) (forwardedTGT, error) {
	if !types.IsFlagSet(&tgtFlags, flags.Forwardable) {
		return forwardedTGT{}, fmt.Errorf("kerberos: delegation for %s: the login TGT is not forwardable: %w; %w", c.principal(), ErrNotForwardable, gss.ErrAuthFailed)
	}
	req, err := forwardedTGTRequest(c.cfg.Config, cl.Credentials.CName(), cl.Credentials.Realm(), realm, tgt, tgtKey)
	if err != nil {
		return forwardedTGT{}, err
	}
	_, rep, err := cl.TGSExchange(req, realm, tgt, tgtKey, 0)
	if err != nil {
		err = classify("forwarded TGT for", c.principal(), err)
		var ke *KRBError
		if errors.As(err, &ke) && (ke.Code == errorcode.KDC_ERR_BADOPTION || ke.Code == errorcode.KDC_ERR_POLICY) {
			return forwardedTGT{}, fmt.Errorf("kerberos: delegation for %s: the KDC refused to forward the TGT: %w; %w", c.principal(), ErrNotForwardable, err)
		}
		return forwardedTGT{}, err
	}
	if !types.IsFlagSet(&rep.DecryptedEncPart.Flags, flags.Forwarded) {
		return forwardedTGT{}, fmt.Errorf("kerberos: delegation for %s: the KDC issued a TGT without the FORWARDED flag: %w; %w", c.principal(), ErrNotForwardable, gss.ErrAuthFailed)
	}
	return forwardedTGT{tkt: rep.Ticket, info: rep.DecryptedEncPart}, nil
}

// forwardedTGTRequest builds the TGS-REQ for a forwarded TGT. gokrb5 sets
// KDC options only from krb5.conf, and its PA-TGS-REQ checksum covers the
// body as built, so the options are changed first and the PA-TGS-REQ
// (an AP-REQ with the login TGT whose authenticator checksums the body,
// key usage 6) is made again.
func forwardedTGTRequest(cfg *config.Config, cname types.PrincipalName, crealm, realm string, tgt messages.Ticket, tgtKey types.EncryptionKey) (messages.TGSReq, error) {
	sname := types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", realm}}
	req, err := messages.NewTGSReq(cname, realm, cfg, tgt, tgtKey, sname, false)
	if err != nil {
		return req, fmt.Errorf("kerberos: forwarded TGT request: %w", err)
	}
	types.SetFlag(&req.ReqBody.KDCOptions, flags.Forwardable)
	types.SetFlag(&req.ReqBody.KDCOptions, flags.Forwarded)
	req.ReqBody.Addresses = nil
	body, err := req.ReqBody.Marshal()
	if err != nil {
		return req, fmt.Errorf("kerberos: forwarded TGT request: %w", err)
	}
	et, err := crypto.GetEtype(tgtKey.KeyType)
	if err != nil {
		return req, fmt.Errorf("kerberos: TGT session key type %d: %w", tgtKey.KeyType, gss.ErrUnsupported)
	}
	sum, err := et.GetChecksumHash(tgtKey.KeyValue, body, keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR_CHKSUM)
	if err != nil {
		return req, fmt.Errorf("kerberos: forwarded TGT request checksum: %w", err)
	}
	auth, err := types.NewAuthenticator(crealm, cname)
	if err != nil {
		return req, fmt.Errorf("kerberos: forwarded TGT request: %w", err)
	}
	auth.Cksum = types.Checksum{CksumType: et.GetHashID(), Checksum: sum}
	ap, err := messages.NewAPReq(tgt, tgtKey, auth)
	if err != nil {
		return req, fmt.Errorf("kerberos: forwarded TGT request: %w", err)
	}
	apb, err := ap.Marshal()
	if err != nil {
		return req, fmt.Errorf("kerberos: forwarded TGT request: %w", err)
	}
	req.PAData = types.PADataSequence{{PADataType: patype.PA_TGS_REQ, PADataValue: apb}}
	return req, nil
}
