package ntlm

// Negotiate flags (MS-NLMP 2.2.2.5) that this package reads or sets.
const (
	flagUnicode          uint32 = 0x00000001
	flagOEM              uint32 = 0x00000002
	flagRequestTarget    uint32 = 0x00000004
	flagSign             uint32 = 0x00000010
	flagSeal             uint32 = 0x00000020
	flagLMKey            uint32 = 0x00000080
	flagNTLM             uint32 = 0x00000200
	flagAnonymous        uint32 = 0x00000800
	flagAlwaysSign       uint32 = 0x00008000
	flagTargetTypeDomain uint32 = 0x00010000
	flagTargetTypeServer uint32 = 0x00020000
	flagESS              uint32 = 0x00080000
	flagTargetInfo       uint32 = 0x00800000
	flagVersion          uint32 = 0x02000000
	flag128              uint32 = 0x20000000
	flagKeyExch          uint32 = 0x40000000
	flag56               uint32 = 0x80000000
)

// clientFlags are what the client asks for in its NEGOTIATE message: the
// set Windows sends for a sealing WinRM context (MS-NLMP 4.2.4's
// AUTHENTICATE flags 0xE2888235).
const clientFlags = flagUnicode | flagRequestTarget | flagSign | flagSeal |
	flagNTLM | flagAlwaysSign | flagESS | flagTargetInfo | flagVersion |
	flag128 | flagKeyExch | flag56

// serverOptionalFlags are granted to a client that asks for them.
const serverOptionalFlags = flagRequestTarget | flagSign | flagSeal |
	flagAlwaysSign | flagVersion | flag128 | flagKeyExch | flag56
