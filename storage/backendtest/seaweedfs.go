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
// access: no identities are configured.
func S3(t testing.TB) string {
	t.Helper()
	s3Once.Do(startSeaweedFS)
	if s3.err != nil {
		t.Fatalf("starting SeaweedFS: %v", s3.err)
	}
	return s3.endpoint
}

// NewBucket creates an empty bucket on the S3 server and returns the
// blob_store URL of it.
func NewBucket(t testing.TB) string {
	t.Helper()
	endpoint := S3(t)
	name := fmt.Sprintf("b%d-%d", os.Getpid(), schemaSeq.Add(1))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, endpoint+"/"+name, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("creating bucket %s: %s", name, resp.Status)
	}
	return "s3://" + name + "?endpoint=" + endpoint + "&region=us-east-1"
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
	// Each server also listens on its port + 10000 (gRPC): both must be free.
	ports, err := freePortPairs(4)
	if err != nil {
		s3.err = err
		return
	}
	s3.endpoint = fmt.Sprintf("http://127.0.0.1:%d", ports[3])
	s3.args = []string{bin, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=" + s3.dir,
		"-master.port=" + strconv.Itoa(ports[0]), "-volume.port=" + strconv.Itoa(ports[1]),
		"-filer.port=" + strconv.Itoa(ports[2]), "-s3", "-s3.port=" + strconv.Itoa(ports[3]),
		"-master.volumeSizeLimitMB=64", "-volume.max=16"}
	s3.log, err = os.Create(filepath.Join(s3.dir, "weed.log"))
	if err != nil {
		s3.err = err
		return
	}
	s3.err = s3.start()
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
