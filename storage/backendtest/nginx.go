package backendtest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Nginx is a private nginx (Debian's) that spreads requests over several
// larder nodes, as the load balancer of a cluster does.
type Nginx struct {
	URL    string // http://ADDR
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Balancer starts an nginx on addr in front of nodes (host:port each) and
// stops it when t ends.
func Balancer(t testing.TB, addr string, nodes []string) *Nginx {
	t.Helper()
	n, err := StartNginx(addr, nodes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

// StartNginx is Balancer for a program that is not a test: it runs nginx
// on addr in front of nodes, in a temporary folder, until Stop. nginx tries
// the next node when one refuses or fails, and never marks a node failed
// (max_fails=0): a node killed in a test is retried at once when it is
// back.
func StartNginx(addr string, nodes []string) (*Nginx, error) {
	bin := "/usr/sbin/nginx"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("nginx"); err != nil {
			return nil, errors.New("nginx is not installed; run scripts/install-test-deps.sh (apt-get install nginx)")
		}
	}
	dir, err := os.MkdirTemp("", "larder-nginx-")
	if err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o755) // for workers running as another user
	var servers strings.Builder
	for _, node := range nodes {
		fmt.Fprintf(&servers, "    server %s max_fails=0;\n", node)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
daemon off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  upstream larder {
%[3]s  }
  server {
    listen %[4]s;
    location / {
      proxy_pass http://larder;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_next_upstream error timeout http_502;
      proxy_read_timeout 60s;
    }
  }
}
`, user, dir, servers.String(), addr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	n := &Nginx{URL: "http://" + addr, dir: dir, cmd: exec.Command(bin, "-p", dir, "-c", path), exited: make(chan struct{})}
	// A file, not a pipe: the workers would hold a pipe open, and Wait
	// with it, after the master is gone.
	log, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer log.Close()
	n.cmd.Stdout, n.cmd.Stderr = log, log
	n.cmd.SysProcAttr = dieWithTest()
	if err := n.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go func() { n.cmd.Wait(); close(n.exited) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(n.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			return n, nil
		}
		select {
		case <-n.exited:
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			out, _ := os.ReadFile(log.Name())
			os.RemoveAll(dir)
			return nil, fmt.Errorf("nginx exited at start: %s\n%s", out, b)
		default:
		}
		if time.Now().After(deadline) {
			n.Stop()
			return nil, fmt.Errorf("nginx not answering: %v", err)
		}
	}
}

// Stop ends nginx (SIGTERM: the master stops its workers, then itself) and
// removes its folder.
func (n *Nginx) Stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
	}
	os.RemoveAll(n.dir)
}
