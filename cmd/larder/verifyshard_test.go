package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// checkedInPart reads verify's "checked N blobs in part K/M" line; errOut
// and err are what verify said otherwise, for the failure.
func checkedInPart(t *testing.T, out, errOut string, err error, part string) int {
	t.Helper()
	m := regexp.MustCompile(`checked (\d+) blobs? in part ` + regexp.QuoteMeta(part) + ` `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("verify --shard %s printed %q (%v; stderr %q); want a line saying how many blobs it checked in that part", part, out, err, errOut)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestVerifyInPartsChecksEachBlobInOnePartDirectlyOrThroughTheRunningLarder(t *testing.T) {
	for _, through := range []bool{false, true} {
		f := newFolder(t)
		p := f.blobPath(f.tarball.SHA256)
		b, _ := os.ReadFile(p)
		b[0] ^= 0x01
		os.WriteFile(p, b, 0o644)
		if through {
			holdFolder(t, f.dir)
		}
		checked, reported := 0, 0
		for _, part := range []string{"1/2", "2/2"} {
			out, errOut, err := run(t, verifyCmd, "--data", f.dir, "--shard", part)
			checked += checkedInPart(t, out, errOut, err, part)
			if strings.Contains(out, "corrupt blob "+string(f.tarball.SHA256)) {
				reported++
				if err == nil || !strings.Contains(err.Error(), "1 corrupt") {
					t.Errorf("verify --shard %s found the corrupt blob but exits with %v; want a failure", part, err)
				}
			} else if err != nil {
				t.Errorf("verify --shard %s = %v; its part is sound", part, err)
			}
		}
		if checked != 4 || reported != 1 {
			t.Errorf("through a running larder %v: the two parts checked %d blobs and reported the corrupt one %d times; want 4 and once", through, checked, reported)
		}
	}
}

func TestVerifyRefusesAShardItCannotRead(t *testing.T) {
	f := newFolder(t)
	for _, bad := range []string{"3/2", "0/1", "2", "half"} {
		_, _, err := run(t, verifyCmd, "--data", f.dir, "--shard", bad)
		if err == nil || !strings.Contains(err.Error(), "verify: --shard") || !strings.Contains(err.Error(), "want K/N") {
			t.Errorf("verify --shard %s = %v; want it refused, saying what is wanted", bad, err)
		}
	}
}
