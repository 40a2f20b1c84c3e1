package backendtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type s3Server struct {
	endpoint string // http://127.0.0.1:PORT
	cmd      *exec.Cmd
	exited   chan struct{}
	dir      string
	log      *os.File
	args     []string
	err      error
}

var (
	s3Once sync.Once
	s3     *s3Server
)

// weedBin returns the SeaweedFS binary scripts/seaweedfs.sh keeps cached,
// building it when the cache lacks it (minutes, once per machine).
func weedBin() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "seaweedfs.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/seaweedfs.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// S3 returns the endpoint (http://127.0.0.1:PORT) of this process's
// SeaweedFS S3 server, starting it on first use. It allows anonymous
// access to everything, and knows one identity besides (S3Credentials),
// whose signatures it checks: presigned URLs need credentials.
func S3(t testing.TB) string {
	t.Helper()
	endpoint, err := StartS3()
	if err != nil {
		t.Fatal(err)
	}
	return endpoint
}

// StartS3 is S3 for a program that is not a test.
func StartS3() (string, error) {
	s3Once.Do(startSeaweedFS)
	if s3.err != nil {
		return "", fmt.Errorf("starting SeaweedFS: %w", s3.err)
	}
	return s3.endpoint, nil
}

// The identity SeaweedFS is started with besides the anonymous one.
const (
	s3AccessKey = "LARDERTESTACCESSKEY1"
	s3SecretKey = "larder-test-secret-key-not-a-secret-0001"
)

// S3Credentials are environment variables that make a larder process sign
// its requests to the S3 server (see S3) as a known identity, as
// blob_redirect's presigned URLs need.
func S3Credentials() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s3AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3SecretKey}
}

// s3Identities is the -s3.config of the server: anonymous requests may do
// anything, as when none is configured, and signed ones must be signed
// by the key of S3Credentials.
var s3Identities = fmt.Sprintf(`{"identities": [
  {"name": "anonymous", "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
  {"name": "larder", "credentials": [{"accessKey": %q, "secretKey": %q}],
   "actions": ["Admin", "Read", "List", "Tagging", "Write"]}
]}`, s3AccessKey, s3SecretKey)

// NewBucket creates an empty bucket on the S3 server and returns the
// blob_store URL of it.
func NewBucket(t testing.TB) string {
	t.Helper()
	u, err := CreateBucket(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// CreateBucket is NewBucket for a program that is not a test.
func CreateBucket(ctx context.Context) (string, error) {
	endpoint, err := StartS3()
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("b%d-%d", os.Getpid(), schemaSeq.Add(1))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, endpoint+"/"+name, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("creating bucket %s: %w", name, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("creating bucket %s: %s", name, resp.Status)
	}
	return "s3://" + name + "?endpoint=" + endpoint + "&region=us-east-1", nil
}

// RestartS3 kills the S3 server (SIGKILL) and starts it again on the same
// ports and folder, for a test of what a node does while the store is
// away. It waits until the store answers again.
func RestartS3(t testing.TB) {
	t.Helper()
	S3(t)
	s3.cmd.Process.Kill()
	<-s3.exited
	if err := s3.start(); err != nil {
		t.Fatalf("restarting SeaweedFS: %v", err)
	}
}

func startSeaweedFS() {
	s3 = &s3Server{}
	bin, err := weedBin()
	if err != nil {
		s3.err = err
		return
	}
	s3.dir, err = os.MkdirTemp("", "larder-s3-")
	if err != nil {
		s3.err = err
		return
	}
	identities := filepath.Join(s3.dir, "s3.json")
	if s3.err = os.WriteFile(identities, []byte(s3Identities), 0o600); s3.err != nil {
		return
	}
	s3.log, err = os.Create(filepath.Join(s3.dir, "weed.log"))
	if err != nil {
		s3.err = err
		return
	}
	// The ports are free when chosen, not held until weed binds them:
	// another test process may take one meanwhile, and weed then exits.
	// New ports, then, a few times.
	for attempt := 0; ; attempt++ {
		// Each server also listens on its port + 10000 (gRPC): both must
		// be free.
		ports, err := freePortPairs(4)
		if err != nil {
			s3.err = err
			return
		}
		s3.endpoint = fmt.Sprintf("http://127.0.0.1:%d", ports[3])
		// A fresh folder: the master records its own address in what it
		// keeps there.
		data := filepath.Join(s3.dir, fmt.Sprintf("data%d", attempt))
		if s3.err = os.Mkdir(data, 0o755); s3.err != nil {
			return
		}
		// Each bucket is a SeaweedFS collection, which takes 7 volumes on
		// its first write (and the filer's own log takes some): 16 volume
		// slots ran out at the third bucket of one test process, and every
		// write then hung. 256 slots hold dozens of buckets; an unused slot
		// costs nothing, and a volume is a sparse file of at most 64 MB.
		s3.args = []string{bin, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=" + data,
			"-master.port=" + strconv.Itoa(ports[0]), "-volume.port=" + strconv.Itoa(ports[1]),
			"-filer.port=" + strconv.Itoa(ports[2]), "-s3", "-s3.port=" + strconv.Itoa(ports[3]),
			"-s3.config=" + identities, "-master.volumeSizeLimitMB=64", "-volume.max=256"}
		s3.err = s3.start()
		if s3.err == nil || attempt == 2 || !strings.Contains(s3.err.Error(), "address already in use") {
			break
		}
	}
	onStop(func() {
		if s3.cmd != nil && s3.cmd.Process != nil {
			s3.cmd.Process.Kill()
			<-s3.exited
		}
		os.RemoveAll(s3.dir)
	})
}

func (s *s3Server) start() error {
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = dieWithTest()
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(s.cmd, s.exited)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		// A listing of buckets answers once the S3 gateway reaches its filer.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(s.log.Name())
			return fmt.Errorf("weed server exited at start:\n%s", tailOf(string(log), 30))
		case <-ctx.Done():
			log, _ := os.ReadFile(s.log.Name())
			return fmt.Errorf("weed server not answering S3 after 60s:\n%s", tailOf(string(log), 30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tailOf(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePortPairs finds n ports p, each with p+10000 free too, below 55536.
func freePortPairs(n int) ([]int, error) {
	var out []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for tries := 0; len(out) < n && tries < 200; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		if p+10000 > 65535 {
			l.Close()
			continue
		}
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+10000))
		if err != nil {
			l.Close()
			continue
		}
		held = append(held, l, l2)
		out = append(out, p)
	}
	if len(out) < n {
		return nil, errors.New("no free pairs of ports for SeaweedFS")
	}
	return out, nil
}
