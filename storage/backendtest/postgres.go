// Package backendtest starts the real servers that larder's shared
// backends are tested against: PostgreSQL (Debian's postgresql), an
// S3-compatible object store (SeaweedFS, built by scripts/seaweedfs.sh),
// and an nginx load balancer in front of several larder nodes. Each runs
// on loopback, on a free port, in a temporary folder; PostgreSQL and
// SeaweedFS once per process, and a program that uses them calls Stop at
// its end (a test package from its TestMain).
//
// Tests call the functions that take a testing.TB; a program that is not
// a test (bench/load) calls the ones that return an error instead.
// Nothing here imports larder: storage's own tests use it too.
package backendtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// DatabaseEnv, set to "postgres", makes the tests of a package that reads
// it run their metadata on a PostgreSQL server of their own instead of
// SQLite files.
const DatabaseEnv = "LARDER_TEST_DATABASE"

// OnPostgres reports whether this test process runs its metadata on
// PostgreSQL (DatabaseEnv).
func OnPostgres() bool { return os.Getenv(DatabaseEnv) == "postgres" }

type pgServer struct {
	dir, bin, admin string
	port            int
	err             error
	lifeline        io.WriteCloser // closed, by Stop or this process's end, it stops the server
}

var (
	pgOnce    sync.Once
	pg        *pgServer
	schemaSeq atomic.Int64
	stops     []func()
	stopsMu   sync.Mutex
)

// PostgresBin is the folder of the newest installed PostgreSQL server's
// programs, or an error that says how to install them.
func PostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) < pgVersion(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i], nil
		}
	}
	return "", errors.New("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl); run scripts/install-test-deps.sh (apt-get install postgresql)")
}

func pgVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Postgres returns the URL of a new, empty schema on this process's
// PostgreSQL server, starting the server on first use. The test fails if
// the server cannot start; it is skipped, saying why, only when PostgreSQL
// is not installed and cannot be.
func Postgres(t testing.TB) string {
	t.Helper()
	pgOnce.Do(startPostgres)
	if pg.err != nil {
		if pg.bin == "" {
			t.Skipf("PostgreSQL tests skipped: %v", pg.err)
		}
		t.Fatalf("starting PostgreSQL: %v", pg.err)
	}
	schema := fmt.Sprintf("t%d_%d", os.Getpid(), schemaSeq.Add(1))
	db, err := sql.Open("pgx", pg.admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	u, _ := url.Parse(pg.admin)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// PostgresServer returns the URL of the server's database itself (the
// public schema), shared by every caller: for several larder processes
// that must see one database.
func PostgresServer(t testing.TB) string {
	t.Helper()
	Postgres(t) // starts it, or skips
	return pg.admin
}

// NewDatabase returns the URL of a new, empty database on the server, for
// a test that starts larder processes which must share one.
func NewDatabase(t testing.TB) string {
	t.Helper()
	PostgresServer(t) // starts it, or skips
	u, err := CreateDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// StartPostgres starts this process's PostgreSQL server on first use and
// returns the URL of its database itself (the public schema).
func StartPostgres() (string, error) {
	pgOnce.Do(startPostgres)
	return pg.admin, pg.err
}

// CreateDatabase returns the URL of a new, empty database on the server,
// starting the server on first use.
func CreateDatabase() (string, error) {
	admin, err := StartPostgres()
	if err != nil {
		return "", fmt.Errorf("starting PostgreSQL: %w", err)
	}
	name := fmt.Sprintf("db%d_%d", os.Getpid(), schemaSeq.Add(1))
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE DATABASE ` + name); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String(), nil
}

func startPostgres() {
	pg = &pgServer{}
	bin, err := PostgresBin()
	if err != nil {
		pg.err = err
		return
	}
	pg.bin = bin
	pg.dir, err = os.MkdirTemp("", "larder-pg-")
	if err != nil {
		pg.err = err
		return
	}
	// The server refuses to run as root: as root it runs as the postgres
	// user, who must own the folder.
	var asUser []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			pg.err = fmt.Errorf("running as root, and there is no postgres user to run the server as: %w", err)
			return
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(pg.dir, uid, gid); err != nil {
			pg.err = err
			return
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(name string, args ...string) error {
		argv := append(append(append([]string{}, asUser...), filepath.Join(bin, name)), args...)
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, out)
		}
		return nil
	}
	data := filepath.Join(pg.dir, "data")
	if err := run("initdb", "-D", data, "-A", "trust", "-U", "larder", "--no-sync", "--locale=C", "-E", "UTF8"); err != nil {
		pg.err = err
		return
	}
	pg.port, err = FreePort()
	if err != nil {
		pg.err = err
		return
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", pg.port, pg.dir)
	if err := run("pg_ctl", "-D", data, "-l", filepath.Join(pg.dir, "log"), "-w", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(pg.dir, "log"))
		pg.err = fmt.Errorf("%v\n%s", err, log)
		return
	}
	// pg_ctl's server outlives this process unless told to stop: a
	// -timeout panic runs no Stop, and the server it left would hold a
	// port and memory until the machine restarts. A watchdog that waits
	// for this process's end on a pipe stops it then, however it ends.
	stop := append(append(append([]string{}, asUser...), filepath.Join(bin, "pg_ctl")), "-D", data, "-m", "immediate", "-w", "stop")
	watchdog := exec.Command("sh", append([]string{"-c", `trap "" INT TERM HUP; read _; "$@" >/dev/null 2>&1; rm -rf "$0"`, pg.dir}, stop...)...)
	if pg.lifeline, err = watchdog.StdinPipe(); err == nil {
		err = watchdog.Start()
	}
	if err != nil {
		run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
		os.RemoveAll(pg.dir)
		pg.err = fmt.Errorf("a watchdog for the server: %w", err)
		return
	}
	onStop(func() {
		pg.lifeline.Close()
		watchdog.Wait()
	})
	pg.admin = fmt.Sprintf("postgres://larder@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", pg.admin)
	if err == nil {
		err = db.PingContext(ctx)
		db.Close()
	}
	pg.err = err
}

func onStop(fn func()) {
	stopsMu.Lock()
	stops = append(stops, fn)
	stopsMu.Unlock()
}

// Stop stops every server this process started. Call it from TestMain
// after m.Run.
func Stop() {
	stopsMu.Lock()
	defer stopsMu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	stops = nil
}

// FreePort is a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// RerunOnPostgres runs this test binary again, with the same flags, its
// metadata on PostgreSQL (DatabaseEnv), skipping the tests named in skip
// (a -test.skip pattern of tests that are about SQLite files). It reports
// the child's output through t and fails t if the child fails.
func RerunOnPostgres(t *testing.T, skip string) {
	t.Helper()
	if OnPostgres() {
		t.Skip("already on PostgreSQL")
	}
	if _, err := PostgresBin(); err != nil {
		t.Skipf("PostgreSQL tests skipped: %v", err)
	}
	args := []string{}
	for _, a := range os.Args[1:] {
		// The parent's own -run picked this test; the child runs them all.
		if strings.HasPrefix(a, "-test.run") || strings.HasPrefix(a, "-test.skip") {
			continue
		}
		args = append(args, a)
	}
	// Verbose, to count what ran.
	args = append(args, "-test.skip", skip, "-test.v=true")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), DatabaseEnv+"=postgres")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the tests on PostgreSQL failed: %v\n%s", err, out)
	}
	passed := strings.Count(string(out), "--- PASS")
	skipped := strings.Count(string(out), "--- SKIP")
	t.Logf("on PostgreSQL: %d passed (subtests included), %d skipped: %s", passed, skipped, lastLine(string(out)))
	if passed == 0 {
		t.Fatalf("the run on PostgreSQL ran no test:\n%s", out)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
