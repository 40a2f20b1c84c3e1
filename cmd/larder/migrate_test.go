package main

import (
	"strings"
	"testing"
)

func TestMigrateOfACurrentDataFolderSaysSoAndAppliesNothing(t *testing.T) {
	f := newFolder(t)
	for _, args := range [][]string{{"--data", f.dir}, {"--check", "--data", f.dir}} {
		out, _, err := run(t, migrateCmd, args...)
		if err != nil || strings.Contains(out, "applied ") || !strings.Contains(out, "up to date, nothing to apply") {
			t.Errorf("migrate %v = %v, %q; want it up to date, nothing applied", args, err, out)
		}
	}
	// A running larder holds the folder: migrate reads the database beside it.
	holdFolder(t, f.dir)
	if out, _, err := run(t, migrateCmd, "--data", f.dir); err != nil || !strings.Contains(out, "up to date") {
		t.Errorf("migrate beside a running larder = %v, %q; want it up to date", err, out)
	}
}

func TestMigrateRefusesFlagsThatDoNotGoTogether(t *testing.T) {
	f := newFolder(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--check", "--adopt-blob-store", "--data", f.dir}, "give one of them"},
		{[]string{"--adopt-blob-store", "--data", f.dir}, "one pair already"},
		{[]string{"--data", f.dir, "extra"}, `unexpected argument "extra"`},
	} {
		_, _, err := run(t, migrateCmd, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("migrate %v = %v; want an error saying %q", tt.args, err, tt.want)
		}
	}
}
