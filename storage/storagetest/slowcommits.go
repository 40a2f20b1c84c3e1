package storagetest

import (
	"context"
	"sync"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// SlowCommits is a blob store whose commits wait until Release (a disk
// whose fsync takes its time), for tests of what must not wait for one.
// After limit, commits go ahead on their own and Timed says so: a test
// whose client waited for a commit then fails instead of hanging.
type SlowCommits struct {
	storage.Blobs
	release chan struct{}
	once    sync.Once
	timed   bool
	timer   *time.Timer
}

func NewSlowCommits(b storage.Blobs, limit time.Duration) *SlowCommits {
	s := &SlowCommits{Blobs: b, release: make(chan struct{})}
	s.timer = time.AfterFunc(limit, func() { s.open(true) })
	return s
}

// Release lets every commit, waiting or to come, go ahead.
func (s *SlowCommits) Release() { s.timer.Stop(); s.open(false) }

// Timed reports whether commits were let go by the time limit rather
// than by Release. Read it after the requests under test returned.
func (s *SlowCommits) Timed() bool {
	select {
	case <-s.release:
		return s.timed
	default:
		return false
	}
}

func (s *SlowCommits) open(timed bool) {
	s.once.Do(func() { s.timed = timed; close(s.release) })
}

func (s *SlowCommits) Create(ctx context.Context) (storage.BlobWriter, error) {
	w, err := s.Blobs.Create(ctx)
	if err != nil {
		return nil, err
	}
	return slowCommitWriter{w, s.release}, nil
}

type slowCommitWriter struct {
	storage.BlobWriter
	release chan struct{}
}

func (w slowCommitWriter) Commit(ctx context.Context, expected storage.Digest) (storage.Digest, int64, error) {
	<-w.release
	return w.BlobWriter.Commit(ctx, expected)
}
