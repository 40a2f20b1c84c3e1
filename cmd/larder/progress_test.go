package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage"
)

func TestProgressBarShowsCountsBytesAndTimeLeft(t *testing.T) {
	tests := []struct {
		name string
		tty  bool
		want []string
	}{
		{"on a terminal redraws one line and ends it", true, []string{
			"\r[===============               ] export  50% 2/4 blobs, 512 B / 1.0 KiB, 10s left",
			"\r[==============================] export 100% 4/4 blobs, 1.0 KiB / 1.0 KiB\n"}},
		{"elsewhere writes plain lines", false, []string{
			"export  50% 2/4 blobs, 512 B / 1.0 KiB, 10s left\n",
			"export 100% 4/4 blobs, 1.0 KiB / 1.0 KiB\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			b := newProgressBar(console{err: &buf, tty: tt.tty}, "export", "blobs")
			clock := b.start
			b.now = func() time.Time { return clock }
			b.every = 0
			clock = clock.Add(10 * time.Second)
			b.update(storage.Progress{Items: 2, TotalItems: 4, Bytes: 512, TotalBytes: 1024})
			clock = clock.Add(10 * time.Second)
			b.update(storage.Progress{Items: 4, TotalItems: 4, Bytes: 1024, TotalBytes: 1024})
			b.finish()
			wantContains(t, "progress", buf.String(), tt.want...)
			if !tt.tty && strings.Contains(buf.String(), "\r") {
				t.Errorf("plain progress has a carriage return: %q", buf.String())
			}
		})
	}
}

func TestProgressBarWithoutTotalsCountsWhatIsDone(t *testing.T) {
	var buf bytes.Buffer
	b := newProgressBar(console{err: &buf}, "gc", "artifacts evicted")
	b.every = 0
	b.update(storage.Progress{Items: 3, Bytes: 3 << 20})
	wantContains(t, "progress", buf.String(), "gc 3 artifacts evicted, 3.0 MiB\n")
}

func TestFormatLeft(t *testing.T) {
	for d, want := range map[time.Duration]string{
		4 * time.Second: "4s", 200 * time.Second: "3m20s", 2*time.Hour + 5*time.Minute + 10*time.Second: "2h05m",
	} {
		if got := formatLeft(d); got != want {
			t.Errorf("formatLeft(%v) = %q, want %q", d, got, want)
		}
	}
}
