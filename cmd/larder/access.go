package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/larder-mirror/larder/cmd/larder/front"
)

// access decides who may talk to larder: an allow-list of client networks
// and read tokens. It runs before anything else, cached content included:
// the Apache recipe larder replaces served cached URLs before its IP check.
type access struct {
	allow  []netip.Prefix // empty: any address (only allowed on loopback listeners)
	tokens [][32]byte     // SHA-256 of each accepted token; empty: no token needed
}

// newAccess reads the rules from the configuration. A listener on a
// non-loopback address needs an allow-list or tokens: larder does not start
// open to the world unless allow = ["0.0.0.0/0"] says so.
func newAccess(cfg Config) (*access, error) {
	a := &access{}
	for i, s := range cfg.Allow {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			addr, aerr := netip.ParseAddr(strings.TrimSpace(s))
			if aerr != nil {
				return nil, fmt.Errorf("allow[%d]: %q is not an address or network (such as 10.0.0.0/8)", i, s)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		a.allow = append(a.allow, p.Masked())
	}
	for _, t := range cfg.Tokens {
		if t == "" {
			return nil, fmt.Errorf("tokens: an empty token")
		}
		a.tokens = append(a.tokens, sha256.Sum256([]byte(t)))
	}
	if cfg.TokensFile != "" {
		hashed, err := readTokenFile(cfg.TokensFile)
		if err != nil {
			return nil, err
		}
		a.tokens = append(a.tokens, hashed...)
	}
	host, _, _ := net.SplitHostPort(cfg.Listen)
	if !isLoopback(host) && len(a.allow) == 0 && len(a.tokens) == 0 {
		return nil, fmt.Errorf("listen: %s is reachable from other machines; set allow (e.g. allow = [\"10.0.0.0/8\"]) or tokens, or allow = [\"0.0.0.0/0\"] to be open to every address on purpose", cfg.Listen)
	}
	return a, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}

// readTokenFile reads one token hash a line, "sha256:HEX" (or bare HEX),
// with # comments; what `echo -n TOKEN | sha256sum` prints.
func readTokenFile(path string) ([][32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens_file: %w", err)
	}
	defer f.Close()
	var out [][32]byte
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line, _, _ = strings.Cut(line, " ") // sha256sum's "HEX  -"
		line = strings.TrimPrefix(line, "sha256:")
		b, err := hex.DecodeString(line)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("tokens_file %s: line %d is not a SHA-256 in hex", path, n)
		}
		var h [32]byte
		copy(h[:], b)
		out = append(out, h)
	}
	return out, sc.Err()
}

// open reports whether probes may skip the token check (not the allow-list):
// load balancers call them without credentials.
func isProbe(path string) bool { return path == "/healthz" || path == "/readyz" }

// active reports whether there are rules to apply at all.
func (a *access) active() bool { return len(a.allow) > 0 || len(a.tokens) > 0 }

var (
	refusedAddress = &front.Refusal{Status: http.StatusForbidden, Msg: "403 Forbidden: your address is not in larder's allow list"}
	refusedToken   = &front.Refusal{Status: http.StatusUnauthorized, Header: http.Header{"Www-Authenticate": {`Basic realm="larder"`}},
		Msg: "401 Unauthorized: larder needs a token (Authorization: Bearer TOKEN, or basic auth with the token as password)"}
)

// Admit applies the rules to a request, from its line and headers alone:
// the front asks before it reads a byte of a body or lets a client send
// one, and before any quick answer. A client outside the allow-list, or
// without a token, must not make larder read, let alone hold, what it
// sends.
func (a *access) Admit(r *front.Request) *front.Refusal {
	if !a.allowed(r.Remote()) {
		return refusedAddress
	}
	if len(a.tokens) > 0 && !isProbe(r.Path()) && !a.authorized(r.Header("Authorization")) {
		return refusedToken
	}
	return nil
}

// Answered: the rules have nothing to say of an answer.
func (a *access) Answered(*front.Request, *front.Outcome) {}

func (a *access) allowed(remote string) bool {
	if len(a.allow) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range a.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// authorized accepts a token as npm sends it (Authorization: Bearer, from
// //host/:_authToken) and as pip sends it (basic auth from
// https://user:token@host/: the password, or the user name when the
// password is empty).
func (a *access) authorized(auth string) bool {
	scheme, cred, _ := strings.Cut(auth, " ")
	var candidates []string
	switch strings.ToLower(scheme) {
	case "bearer":
		candidates = []string{strings.TrimSpace(cred)}
	case "basic":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return false
		}
		user, pass, _ := strings.Cut(string(b), ":")
		candidates = []string{pass}
		if pass == "" {
			candidates = []string{user}
		}
	default:
		return false
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		h := sha256.Sum256([]byte(c))
		for _, t := range a.tokens {
			if subtle.ConstantTimeCompare(h[:], t[:]) == 1 {
				return true
			}
		}
	}
	return false
}
