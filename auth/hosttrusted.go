package auth

// HostTrusted reports whether host matches one of the WinRM TrustedHosts
// patterns, as Transport.TrustedHosts does: "*", a host name or IP
// address, "*.suffix", or "<local>".
func HostTrusted(patterns []string, host string) bool { return hostTrusted(patterns, host) }
