package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// selfSigned writes a certificate and key for 127.0.0.1.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "larder test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// With tls_cert and tls_key larder serves HTTPS, and rewrites tarball URLs
// to https; npm installs through it with the certificate trusted.
func TestTLSWithTokensServesNpmOverHTTPS(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	cert, key := selfSigned(t)
	cfg := fmt.Sprintf("tls_cert = %q\ntls_key = %q\ntokens = [\"s3cret\"]\n", cert, key) + npmConfig(up, "")
	l := startLarderWith(t, cfg, func(l *larder) {
		l.URL = strings.Replace(l.URL, "http://", "https://", 1)
		l.readyPath = "/healthz" // needs no token
		l.wantReady = 200
	})
	if resp, _ := l.get(t, "/npm/leaf"); resp.StatusCode != 401 {
		t.Errorf("without a token: %d, want 401", resp.StatusCode)
	}
	resp, body := l.get(t, "/npm/leaf", "Authorization", "Bearer s3cret")
	if resp.StatusCode != 200 || !strings.Contains(string(body), l.URL+"/npm/leaf/-/leaf-1.0.0.tgz") {
		t.Fatalf("over HTTPS with the token: %d\n%s", resp.StatusCode, body)
	}
	// Over HTTP/2, as browsers, curl and uv speak it.
	h2 := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for range 2 { // cold, then from the cache
		req, _ := http.NewRequest("GET", l.URL+"/npm/leaf/-/leaf-1.0.0.tgz", nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := h2.Do(req)
		if err != nil {
			t.Fatalf("HTTP/2 download: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.ProtoMajor != 2 || sha(body) != sha(npmtest.Tarball("leaf", "1.0.0", nil)) {
			t.Errorf("HTTP/2 download: %s %d, %d bytes, %v", resp.Proto, resp.StatusCode, len(body), err)
		}
	}
	c := newProject(t, `{"name":"app","version":"1.0.0","dependencies":{"leaf":"1.0.0"}}`)
	host := strings.TrimPrefix(l.URL, "https://")
	os.WriteFile(filepath.Join(c.dir, ".npmrc"), []byte(fmt.Sprintf("//%s/npm/:_authToken=s3cret\ncafile=%s\n", host, cert)), 0o600)
	c.mustRun(l.URL+"/npm/", "npm", "install", "--no-audit")
	installed(t, c, "leaf")
}
