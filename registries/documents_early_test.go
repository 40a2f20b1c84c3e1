package registries

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage/storagetest"
)

// holdWrites is storagetest.HoldWrites on e's database.
func (e *testEnv) holdWrites(t *testing.T, statements ...string) (commit func()) {
	t.Helper()
	return storagetest.HoldWrites(t, filepath.Join(e.dir, "larder.db"), statements...)
}

// answerWithin is DocumentToAnswer, failing the test when it does not
// return within patience.
func answerWithin(t *testing.T, u *Upstream, req DocRequest, want CacheStatus) Doc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	d, err := u.DocumentToAnswer(ctx, req)
	if err != nil {
		t.Fatalf("DocumentToAnswer(%s): %v", req.Key, err)
	}
	if d.Status != want {
		t.Fatalf("DocumentToAnswer(%s) is %s, want %s", req.Key, d.Status, want)
	}
	return d
}

// leftPadRig is a fresh env and an upstream that serves left-pad's
// document, {"name":"left-pad"}.
func leftPadRig(t *testing.T) (*testEnv, *fakeUpstream, *Upstream) {
	t.Helper()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	f.handle("/left-pad", docHandler(`{"name":"left-pad"}`, `"v1"`, lastModified))
	return e, f, e.upstream(t, f.URL("/"), Options{})
}

func TestDocumentToAnswerIsHandedOverBeforeItsCommit(t *testing.T) {
	t.Parallel()
	e, f, u := leftPadRig(t)
	release := e.holdWrites(t)

	d := answerWithin(t, u, leftPad(f), Miss)
	if got := bodyOf(t, u, d); got != `{"name":"left-pad"}` {
		t.Errorf("the body answered is %q", got)
	}
	// Anyone else waits for the commit, then finds the copy held, as if
	// the commit had come first: what the document announces must be in
	// the database when they look.
	joined := make(chan Doc, 1)
	go func() {
		d, err := u.Document(context.Background(), leftPad(f))
		if err != nil {
			t.Errorf("Document while the first commits: %v", err)
		}
		joined <- d
	}()
	select {
	case <-joined:
		t.Fatal("a second caller had the document before it was committed")
	case <-time.After(200 * time.Millisecond):
	}
	release()
	j := <-joined
	if j.Status != Hit || j.Body != d.Body || j.Size != d.Size {
		t.Errorf("the caller who waited got %s %s (%d bytes), want a HIT on %s (%d bytes)", j.Status, j.Body, j.Size, d.Body, d.Size)
	}
	stored, err := u.Cached(context.Background(), "left-pad", "full")
	if err != nil || stored.Body != d.Body || !stored.FetchedAt.Equal(d.FetchedAt) || stored.ETag != `"v1"` {
		t.Errorf("stored %+v, %v; want the row answered: %+v", stored, err, d.Document)
	}
	if n := f.count("/left-pad"); n != 1 {
		t.Errorf("upstream received %d requests, want 1", n)
	}
}

func TestDocumentToAnswerWhileAnotherAnswerCommitsTakesThatAnswer(t *testing.T) {
	t.Parallel()
	e, f, u := leftPadRig(t)
	release := e.holdWrites(t)
	defer release()
	first := answerWithin(t, u, leftPad(f), Miss)
	// A client's request that comes while the copy fetched for another
	// commits (a page loaded ahead of pip, say) has it at once, as the
	// other did: it does not wait for the commit.
	second := answerWithin(t, u, leftPad(f), Hit)
	wantTheFirstCopy(t, u, f, first, second)
}

// wantTheFirstCopy checks that second is the copy of left-pad answered
// first, fetched once.
func wantTheFirstCopy(t *testing.T, u *Upstream, f *fakeUpstream, first, second Doc) {
	t.Helper()
	if second.Body != first.Body || second.Size != first.Size || second.ETag != first.ETag {
		t.Errorf("the second answer is %s (%d bytes, %s), want the first's: %s (%d bytes, %s)",
			second.Body, second.Size, second.ETag, first.Body, first.Size, first.ETag)
	}
	if got := bodyOf(t, u, second); got != `{"name":"left-pad"}` {
		t.Errorf("the second answer's body is %q", got)
	}
	if n := f.count("/left-pad"); n != 1 {
		t.Errorf("upstream received %d requests, want 1", n)
	}
}

func TestDocumentToAnswerThatJoinsAFlightTakesItsEarlyAnswer(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	gate, arrived := make(chan struct{}), make(chan struct{}, 1)
	inner := docHandler(`{"name":"left-pad"}`, `"v1"`, lastModified)
	f.handle("/left-pad", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-gate
		inner.ServeHTTP(w, r)
	}))
	u := e.upstream(t, f.URL("/"), Options{ResponseTimeout: time.Minute})
	release := e.holdWrites(t)
	defer release()

	first := make(chan Doc, 1)
	go func() { first <- answerWithin(t, u, leftPad(f), Miss) }()
	within(t, "the upstream request", func() struct{} { return <-arrived })
	// A second client (pip asking for a page larder loads ahead of it)
	// joins the flight under way: it has the copy when the first does,
	// not after the commit, which is held until the test ends.
	second := make(chan Doc, 1)
	go func() { second <- answerWithin(t, u, leftPad(f), Hit) }()
	time.Sleep(100 * time.Millisecond) // to be sure it joined
	close(gate)
	a := within(t, "the first answer", func() Doc { return <-first })
	b := within(t, "the second answer, while the commit is held", func() Doc { return <-second })
	wantTheFirstCopy(t, u, f, a, b)
}

func TestDocumentToAnswerOfALargeBodyNamesTheBlobItIsKeptIn(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	big := `{"readme":"` + strings.Repeat("x", 300<<10) + `"}`
	f.handle("/left-pad", docHandler(big, `"v1"`, lastModified))
	u := e.upstream(t, f.URL("/"), Options{})

	d := answerWithin(t, u, leftPad(f), Miss)
	waitDocFlight(u, "left-pad", "full")
	stored, err := u.Cached(context.Background(), "left-pad", "full")
	if err != nil || stored.Body != d.Body || stored.Size != d.Size {
		t.Fatalf("stored %s (%d bytes), %v; answered %s (%d bytes)", stored.Body, stored.Size, err, d.Body, d.Size)
	}
	if got := bodyOf(t, u, Doc{Document: stored}); got != big {
		t.Errorf("the stored body is %d bytes, want %d", len(got), len(big))
	}
}

func TestDocumentToAnswerRevalidatedBeforeItsCommit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	f.handle("/left-pad", docHandler(`{}`, `"v1"`, lastModified))
	now := time.Now()
	clock := func() time.Time { return now }
	u := e.upstream(t, f.URL("/"), Options{MetadataTTL: time.Minute, Now: func() time.Time { return clock() }})
	first := mustDocument(t, u, leftPad(f), Miss)
	now = now.Add(2 * time.Minute)
	release := e.holdWrites(t)

	d := answerWithin(t, u, leftPad(f), Revalidated)
	if d.Body != first.Body || !d.FetchedAt.Equal(now) {
		t.Errorf("revalidated %s fetched at %v, want %s at %v", d.Body, d.FetchedAt, first.Body, now)
	}
	release()
	waitDocFlight(u, "left-pad", "full")
	stored, err := u.Cached(context.Background(), "left-pad", "full")
	if err != nil || !stored.FetchedAt.Equal(now) {
		t.Errorf("stored fetched at %v, %v; want %v", stored.FetchedAt, err, now)
	}
}

func TestDocumentToAnswerWhoseCommitFailsIsFetchedAgain(t *testing.T) {
	t.Parallel()
	e, f, u := leftPadRig(t)
	// The commit that was waiting for the lock then fails, as on a full disk.
	release := e.holdWrites(t, `CREATE TRIGGER refuse BEFORE INSERT ON documents BEGIN SELECT RAISE(ABORT, 'test: no room'); END`)

	d := answerWithin(t, u, leftPad(f), Miss)
	release()
	waitDocFlight(u, "left-pad", "full")
	assertNotCached(t, u, leftPad(f))
	// Its caller may still be rendering what it was answered.
	if got := bodyOf(t, u, d); got != `{"name":"left-pad"}` {
		t.Errorf("the body answered reads %q after the failed commit", got)
	}

	e.holdWrites(t, `DROP TRIGGER refuse`)()
	again := answerWithin(t, u, leftPad(f), Miss)
	waitDocFlight(u, "left-pad", "full")
	if n := f.count("/left-pad"); n != 2 {
		t.Errorf("upstream received %d requests, want 2: nothing was kept the first time", n)
	}
	if stored, err := u.Cached(context.Background(), "left-pad", "full"); err != nil || stored.Body != again.Body {
		t.Errorf("stored %+v, %v after the second fetch", stored, err)
	}
}

func TestCloseWaitsForTheCommitOfADocumentAnsweredBeforeIt(t *testing.T) {
	t.Parallel()
	e, f, u := leftPadRig(t)
	release := e.holdWrites(t)

	d := answerWithin(t, u, leftPad(f), Miss)
	closed := make(chan struct{})
	go func() { u.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while the document its client has was still committing")
	case <-time.After(200 * time.Millisecond):
	}
	release()
	<-closed
	stored, err := u.Cached(context.Background(), "left-pad", "full")
	if err != nil || stored.Body != d.Body {
		t.Errorf("stored %+v, %v; want the document answered", stored, err)
	}
}

// stallingHandler is a log handler that holds whoever logs msg until
// unstall is closed, telling stalled when it starts to.
type stallingHandler struct {
	slog.Handler
	msg              string
	stalled, unstall chan struct{}
	once             *sync.Once
}

func (h stallingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.stalled) })
		<-h.unstall
	}
	return h.Handler.Handle(ctx, r)
}

func (stallingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h stallingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	return h
}

func TestARequestWaitingForACommitDoesNotJoinTheFlightThatAnsweredBeforeIt(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	// The flight that answered early is held after its commit's end, in
	// the log line of its failed commit: whoever waited for that end must
	// not join it (it would have its error, or a status the upstream gave
	// before they asked), but fetch as if the commit had come first.
	stall := stallingHandler{Handler: slog.DiscardHandler, msg: "document answered but not kept; the next request fetches it again",
		stalled: make(chan struct{}), unstall: make(chan struct{}), once: new(sync.Once)}
	e.Log = slog.New(stall)
	f := newFakeUpstream(t)
	f.handle("/left-pad", docHandler(`{"name":"left-pad"}`, `"v1"`, lastModified))
	u := e.upstream(t, f.URL("/"), Options{})
	defer close(stall.unstall)
	release := e.holdWrites(t, `CREATE TRIGGER refuse BEFORE INSERT ON documents BEGIN SELECT RAISE(ABORT, 'test: no room'); END`)
	answerWithin(t, u, leftPad(f), Miss)

	// Document, not DocumentToAnswer: a client answered before the
	// commit would take the copy answered (see
	// TestDocumentToAnswerWhileAnotherAnswerCommitsTakesThatAnswer).
	second := make(chan error, 1)
	go func() {
		d, err := u.Document(context.Background(), leftPad(f))
		if err == nil && d.Status != Miss {
			err = fmt.Errorf("status %s, want %s", d.Status, Miss)
		}
		second <- err
	}()
	release()
	<-stall.stalled
	select {
	case err := <-second:
		// Its own fetch's commit meets the same trigger.
		if err != nil && !strings.Contains(err.Error(), "test: no room") {
			t.Fatalf("the request that waited for the failed commit: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request that waited for the commit joined the flight that had answered before it")
	}
	if n := f.count("/left-pad"); n != 2 {
		t.Errorf("upstream received %d requests, want 2", n)
	}
}
