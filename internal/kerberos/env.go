package kerberos

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
)

// LoadClientConfigFromEnv loads the krb5.conf named by KRB5_CONFIG (default
// /etc/krb5.conf) and the ticket cache named by KRB5CCNAME ("FILE:path" or
// a path; default /tmp/krb5cc_<uid>), as MIT's tools find them. A missing
// file, or a cache type other than FILE (KEYRING, KCM, DIR), gives an
// error wrapping ErrNoCredentials.
func LoadClientConfigFromEnv() (*config.Config, *credentials.CCache, error) {
	confPath := os.Getenv("KRB5_CONFIG")
	if confPath == "" {
		confPath = "/etc/krb5.conf"
	}
	// MIT allows a colon-separated list; the first file is the user's.
	confPath, _, _ = strings.Cut(confPath, ":")
	if _, err := os.Stat(confPath); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("kerberos: krb5.conf %s not found: %w", confPath, ErrNoCredentials)
	}
	cfg, err := config.Load(confPath)
	if err != nil {
		return nil, nil, fmt.Errorf("kerberos: krb5.conf %s: %v", confPath, err)
	}
	ccPath := os.Getenv("KRB5CCNAME")
	switch {
	case ccPath == "":
		ccPath = "/tmp/krb5cc_" + strconv.Itoa(os.Getuid())
	case strings.HasPrefix(ccPath, "FILE:"):
		ccPath = strings.TrimPrefix(ccPath, "FILE:")
	case strings.Contains(ccPath, ":") && !strings.HasPrefix(ccPath, "/"):
		typ, _, _ := strings.Cut(ccPath, ":")
		return cfg, nil, fmt.Errorf("kerberos: ticket cache type %s: %w", typ, errUnsupportedCCache)
	}
	if _, err := os.Stat(ccPath); errors.Is(err, fs.ErrNotExist) {
		return cfg, nil, fmt.Errorf("kerberos: ticket cache %s not found (run kinit): %w", ccPath, ErrNoCredentials)
	}
	cc, err := credentials.LoadCCache(ccPath)
	if err != nil {
		return cfg, nil, fmt.Errorf("kerberos: ticket cache %s: %v", ccPath, err)
	}
	return cfg, cc, nil
}

var errUnsupportedCCache = fmt.Errorf("only FILE ticket caches are read: %w", ErrNoCredentials)
