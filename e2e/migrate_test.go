package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/migrations"
	"github.com/larder-mirror/larder/storage/backendtest"
)

// migrateRun is one `larder migrate` process's outcome.
type migrateRun struct {
	out  string
	code int
}

func runMigrate(t *testing.T, args ...string) migrateRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, larderBin, append([]string{"migrate"}, args...)...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return migrateRun{string(out), 0}
	case errors.As(err, &exit):
		return migrateRun{string(out), exit.ExitCode()}
	}
	t.Fatalf("larder migrate: %v\n%s", err, out)
	return migrateRun{}
}

// linesStarting are the words after prefix on each line that begins with it.
func linesStarting(out, prefix string) []string {
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			got = append(got, rest)
		}
	}
	return got
}

// TestTwoMigrateProcessesAtOnceApplyEachMigrationOnce runs `larder migrate`
// twice at once against a database an older larder left (SQLite in a data
// folder, and PostgreSQL), with --check before and after.
func TestTwoMigrateProcessesAtOnceApplyEachMigrationOnce(t *testing.T) {
	all := migrations.All()
	var old []backendtest.Migration
	var newest []string
	for i, m := range all {
		if i < len(all)-2 {
			old = append(old, backendtest.Migration{Name: m.Name, SQL: m.SQL})
		} else {
			newest = append(newest, m.Name)
		}
	}
	data := t.TempDir()
	pgConfig := filepath.Join(t.TempDir(), "larder.toml")
	pg := backendtest.NewDatabase(t)
	if err := os.WriteFile(pgConfig, []byte(fmt.Sprintf("database = %q\n", pg)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		database string
		args     []string
	}{
		{"SQLite", filepath.Join(data, "larder.db"), []string{"--data", data}},
		{"PostgreSQL", pg, []string{"--config", pgConfig, "--data", t.TempDir()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			backendtest.OldSchema(t, tt.database, old)

			check := runMigrate(t, append([]string{"--check"}, tt.args...)...)
			if check.code != 3 || !slices.Equal(linesStarting(check.out, "pending "), newest) {
				t.Errorf("migrate --check before: exit %d, %q; want exit 3 listing %v as pending", check.code, check.out, newest)
			}

			runs := make([]migrateRun, 2)
			var wg sync.WaitGroup
			for i := range runs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					runs[i] = runMigrate(t, tt.args...)
				}()
			}
			wg.Wait()
			var applied []string
			for _, r := range runs {
				if r.code != 0 || !strings.Contains(r.out, "up to date") {
					t.Errorf("migrate beside another: exit %d, %q; want it to end up to date", r.code, r.out)
				}
				applied = append(applied, linesStarting(r.out, "applied ")...)
			}
			slices.Sort(applied)
			if !slices.Equal(applied, newest) {
				t.Errorf("the two migrate processes applied %v between them; want each of %v once\n%s\n%s", applied, newest, runs[0].out, runs[1].out)
			}

			check = runMigrate(t, append([]string{"--check"}, tt.args...)...)
			if check.code != 0 || !strings.Contains(check.out, "up to date, nothing to apply") {
				t.Errorf("migrate --check after: exit %d, %q; want exit 0, up to date", check.code, check.out)
			}
		})
	}
}

func TestMigrateRefusesAFolderWithNoDatabaseAndMakesNone(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "not-here")
	for _, args := range [][]string{{"--data", missing}, {"--check", "--data", missing}} {
		r := runMigrate(t, args...)
		if r.code != 1 || !strings.Contains(r.out, "is not a larder data folder") {
			t.Errorf("migrate %v: exit %d, %q; want exit 1 saying it is not a data folder", args, r.code, r.out)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("migrate made %s: %v", missing, err)
	}
}
