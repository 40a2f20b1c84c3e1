package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A node on the shared backends keeps pools of idle connections to them,
// as it keeps idle connections to the upstreams: to PostgreSQL (database/sql,
// an open file each) and to the S3 server (Go's HTTP client, an open file
// and a read and a write goroutine each). A pool grows with the
// concurrency it met, up to its limit, and is not a leak; what must not
// grow is the rest. The load test cannot make a node close them, so it
// counts them, by the remote port of each socket the node holds.

// backendPorts are the ports of the shared backends a node talks to.
type backendPorts struct{ s3, db int }

// backendConns counts the TCP connections pid holds to ports.s3 and
// ports.db.
func backendConns(pid int, ports backendPorts) (s3, db int, err error) {
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue // no IPv6 here
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			_, portHex, _ := strings.Cut(fields[2], ":")
			port, _ := strconv.ParseInt(portHex, 16, 32)
			switch int(port) {
			case ports.s3:
				s3++
			case ports.db:
				db++
			}
		}
		f.Close()
	}
	return s3, db, nil
}
