package registries

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// CacheStatus says how a response was obtained; clients see it in
// X-Larder-Cache.
type CacheStatus string

const (
	Hit         CacheStatus = "HIT"         // a fresh cached copy
	Miss        CacheStatus = "MISS"        // fetched from the upstream (new, or changed since cached)
	Revalidated CacheStatus = "REVALIDATED" // the upstream confirmed the cached copy (304)
	Stale       CacheStatus = "STALE"       // the cached copy, because the upstream failed, is down, or larder is offline
)

// DocRequest asks for one variant of a metadata document.
type DocRequest struct {
	Key     string // stored under; usually the package name
	Variant string
	Package string // the catalog entry; empty for endpoints that are not packages
	URL     string // absolute upstream URL
	Accept  string // sent upstream
	// Prepare checks an upstream body and turns it into what is stored. An
	// error means the body is unacceptable: a 502, and nothing is cached.
	Prepare func(body []byte, contentType string) (Prepared, error)
	// SerialHeader names a response header carrying a serial that only ever
	// grows (PyPI's X-PyPI-Last-Serial); a page with a lower serial than the
	// one held is not accepted. Empty: none.
	SerialHeader string
}

// Prepared is an upstream document made ready to store.
type Prepared struct {
	Body        []byte
	ContentType string
	Artifacts   []storage.Artifact // the files it announces, recorded for later download
	Serial      int64              // a monotonic upstream serial; 0 if none
}

// Doc is a stored document and how it was obtained.
type Doc struct {
	storage.Document
	Status CacheStatus
	// Degraded is set on a STALE copy served because the upstream failed,
	// is down, or larder is offline; not when it was merely slow. Then an
	// ecosystem serves the cached-only view.
	Degraded bool
}

// Document returns a document through the cache policy: a fresh copy is
// served as is; a stale one is revalidated; an unreachable upstream gets the
// cached copy (STALE). Concurrent requests for one document make one upstream
// request, which runs to completion even if every client hangs up.
//
// Nobody waits on an upstream that has given cause: while it is suspect or
// down, a stale copy is answered at once, and while it answers slower than
// StaleWait, too; the revalidation then goes on behind the client's back.
func (u *Upstream) Document(ctx context.Context, req DocRequest) (Doc, error) {
	return u.documentFor(ctx, req, false)
}

// DocumentToAnswer is Document for a caller that answers its client with
// the document and reads nothing else its fetch writes: a copy fetched or
// revalidated for this call is handed over once checked, while its row
// commits (Body finds the new body in memory until then). Another
// DocumentToAnswer caller, one that joined the flight or came during the
// commit, has that copy too (a Hit) when it is fresh for it. A Document
// caller waits for the commit and then looks again, as if the commit had
// come first: what the document announces is in the database when it
// looks, behind a client that follows the links of the answer included. A
// commit that fails is logged, and the next request fetches the document
// again.
func (u *Upstream) DocumentToAnswer(ctx context.Context, req DocRequest) (Doc, error) {
	return u.documentFor(ctx, req, true)
}

func (u *Upstream) documentFor(ctx context.Context, req DocRequest, early bool) (Doc, error) {
	if early {
		// Answered to another client while its row commits: this one
		// takes it too, as held, when it is fresh for this request.
		// Whoever follows its links waits for the commit (Document, as
		// behind Announce).
		if d, ok := u.answeredCopy(ctx, req); ok {
			return d, nil
		}
	}
	if err := u.answered.wait(ctx, docFlightKey(req)); err != nil {
		return Doc{}, err
	}
	cached, err := u.document(ctx, req.Key, req.Variant)
	hasCopy := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return Doc{}, err
	}
	if hasCopy && u.takeAsIs(ctx, cached) {
		return Doc{cached, Hit, false}, nil
	}
	if u.opts.Offline {
		if hasCopy {
			return Doc{cached, Stale, true}, nil
		}
		return Doc{}, u.notCached(req.Key)
	}
	switch st := u.health.State(); {
	case st.Status == StatusDown && hasCopy:
		// The probe alone talks to a down upstream.
		return Doc{cached, Stale, true}, nil
	case st.Status == StatusSuspect && hasCopy:
		u.refreshInBackground(ctx, req)
		return Doc{cached, Stale, true}, nil
	case !hasCopy && !u.reachableFor(ctx):
		return Doc{}, u.notCached(req.Key)
	case hasCopy && u.latency.over(u.opts.StaleWait, time.Now()):
		u.refreshInBackground(ctx, req)
		return Doc{cached, Stale, false}, nil
	}

	// The call whose function runs is answered early through answer; one
	// that joins a flight wakes at a handover and takes the copy answered
	// (as above), or has the flight's end.
	var answer chan Doc
	var answerEarly func(Doc)
	var handover <-chan struct{}
	if early {
		answer = make(chan Doc, 1)
		answerEarly = func(d Doc) { answer <- d }
		handover = u.answered.nextHandover()
		// A flight that handed its copy over before the handover above.
		if d, ok := u.answeredCopy(ctx, req); ok {
			return d, nil
		}
	}
	ch := doChan(&u.docs, docFlightKey(req), func() (any, error) { return u.fillDocument(ctx, req, hasCopy, answerEarly) })
	var patience <-chan time.Time
	if hasCopy {
		t := time.NewTimer(u.opts.StaleWait)
		defer t.Stop()
		patience = t.C
	}
	for {
		select {
		case d := <-answer:
			return d, nil
		case <-handover:
			// Another flight's, or this one's: its own answer is sent
			// before the handover is told.
			select {
			case d := <-answer:
				return d, nil
			default:
			}
			handover = u.answered.nextHandover()
			if d, ok := u.answeredCopy(ctx, req); ok {
				return d, nil
			}
			continue
		case res := <-ch:
			if res.Err == nil {
				return res.Val.(Doc), nil
			}
			if hasCopy && !errors.Is(res.Err, ErrNotFound) {
				u.log.Debug("serving stale document", "key", req.Key, "variant", req.Variant, "err", res.Err)
				return Doc{cached, Stale, true}, nil
			}
			return Doc{}, res.Err
		case <-patience:
			u.latency.waitedOut(u.opts.StaleWait, time.Now())
			u.log.Debug("upstream slow; serving stale document while it revalidates", "key", req.Key, "variant", req.Variant)
			return Doc{cached, Stale, false}, nil
		case <-ctx.Done():
			return Doc{}, ctx.Err()
		}
	}
}

// answeredCopy is the copy of req's document answered to another caller
// and still committing, when it is fresh for this one.
func (u *Upstream) answeredCopy(ctx context.Context, req DocRequest) (Doc, bool) {
	if d, ok := u.answered.answer(docFlightKey(req)); ok && u.takeAsIs(ctx, d) {
		return Doc{d, Hit, false}, true
	}
	return Doc{}, false
}

func docFlightKey(req DocRequest) string { return req.Key + "\x00" + req.Variant }

// AwaitCommit waits while the document under key and variant, answered
// before its row committed (DocumentToAnswer), is committing: whoever
// looks for it afterwards (Holds, Cached) finds it, as if the commit had
// come before the answer.
func (u *Upstream) AwaitCommit(ctx context.Context, key, variant string) error {
	return u.answered.wait(ctx, docFlightKey(DocRequest{Key: key, Variant: variant}))
}

// revalidateGap is how recently a copy must have been fetched for a
// revalidating call to take it as it is.
const revalidateGap = 10 * time.Second

type revalidateKey struct{}

// revalidating is ctx asking Document to revalidate a copy still within its
// TTL, unless the copy was fetched in the last revalidateGap. An artifact
// the held copy does not announce may be of a release the copy predates (a
// lockfile written against the registry itself, or on another mirror): one
// round trip tells, and a client asking again and again for what does not
// exist costs the upstream one request per gap.
func revalidating(ctx context.Context) context.Context {
	return context.WithValue(ctx, revalidateKey{}, true)
}

// Revalidating is revalidating for an ecosystem that learns, from another
// document, that a copy within its TTL is out of date (RubyGems: /versions
// lists another MD5 for an info file than the one held).
func Revalidating(ctx context.Context) context.Context { return revalidating(ctx) }

// takeAsIs reports whether d is answered as it is, without asking the
// upstream.
func (u *Upstream) takeAsIs(ctx context.Context, d storage.Document) bool {
	age := u.opts.Now().Sub(d.FetchedAt)
	if ctx.Value(revalidateKey{}) != nil && age >= revalidateGap {
		return false
	}
	return age < u.opts.MetadataTTL
}

// fillDocument fetches a document under a context detached from the client
// that asked: the fill outlives a client that hangs up.
func (u *Upstream) fillDocument(ctx context.Context, req DocRequest, hadCopy bool, answerEarly func(Doc)) (Doc, error) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.documentFillTime())
	defer cancel()
	answered := false
	if answerEarly != nil {
		// Close waits for the commit of a document whose client has it,
		// as for a verified artifact's; once closing, the answer waits
		// for the commit instead.
		u.fills.mu.Lock()
		tracked := u.fills.track()
		u.fills.mu.Unlock()
		if tracked {
			defer u.fills.running.Done()
		} else {
			answerEarly = nil
		}
	}
	if answerEarly != nil {
		send := answerEarly
		answerEarly = func(d Doc) {
			answered = true
			send(d)
			u.answered.handedOver()
			// The caller, woken by the send, waits for this processor
			// until this goroutine blocks, which is on the commit: yield
			// it (the answer reached the caller in 0.14 ms before, and in
			// 0.015 ms with it).
			runtime.Gosched()
		}
	}
	d, err := u.fetchDocument(fctx, req, hadCopy, answerEarly)
	if err != nil && answered {
		// The caller has its answer, and no error will reach it.
		u.log.Warn("document answered but not kept; the next request fetches it again", "key", req.Key, "variant", req.Variant, "err", err)
	}
	return d, err
}

// documentFillTime bounds a document's fetch that no client's hang-up ends.
func (u *Upstream) documentFillTime() time.Duration {
	return u.opts.ResponseTimeout + 10*u.opts.IdleTimeout
}

// refreshInBackground revalidates a document no client waits for. One
// revalidation per document runs at a time (a second request for it while
// one runs takes no slot), and at most maxBackgroundRefreshes run at once;
// past that, the copy stays stale and a later request tries again.
func (u *Upstream) refreshInBackground(ctx context.Context, req DocRequest) {
	key := docFlightKey(req)
	u.refreshMu.Lock()
	if u.refreshing[key] {
		u.refreshMu.Unlock()
		return
	}
	select {
	case u.refreshes <- struct{}{}:
	default:
		u.refreshMu.Unlock()
		return
	}
	u.fills.mu.Lock()
	tracked := u.fills.track()
	u.fills.mu.Unlock()
	if !tracked { // shutting down
		<-u.refreshes
		u.refreshMu.Unlock()
		return
	}
	u.refreshing[key] = true
	u.refreshMu.Unlock()
	ch := u.docs.DoChan(key, func() (any, error) {
		// Detached from the request that asked, but not from larder:
		// Close stops it and waits for it, as for downloads.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.documentFillTime())
		defer cancel()
		defer context.AfterFunc(u.fills.ctx, cancel)()
		return u.fetchDocument(fctx, req, true, nil)
	})
	go func() {
		defer u.fills.running.Done()
		<-ch
		u.refreshMu.Lock()
		delete(u.refreshing, key)
		u.refreshMu.Unlock()
		<-u.refreshes
	}()
}

// fetchDocument asks the upstream, conditionally when a copy is held, and
// stores what it answers. answerEarly, when not nil, gets the document
// before it is stored (see DocumentToAnswer).
func (u *Upstream) fetchDocument(ctx context.Context, req DocRequest, hadCopy bool, answerEarly func(Doc)) (Doc, error) {
	db := u.env.Store.DB
	// Nodes that share a database ask the upstream once between them: the
	// others wait here, then find the copy fresh below.
	release, err := u.env.Store.ClusterLock(ctx, storage.DocumentLockPrefix+u.opts.Name+"\x00"+docFlightKey(req))
	if err != nil {
		return Doc{}, err
	}
	defer release()
	// Re-read inside the flight: the copy may have changed since the caller looked.
	cached, err := u.rereadDocument(ctx, req.Key, req.Variant, hadCopy)
	hasCopy := err == nil
	if hasCopy && u.takeAsIs(ctx, cached) {
		// A flight that ended between the caller's look-up and this one
		// stored it: concurrent requests make one upstream request.
		return Doc{cached, Hit, false}, nil
	}
	h := http.Header{}
	if req.Accept != "" {
		h.Set("Accept", req.Accept)
	}
	if hasCopy {
		if cached.ETag != "" {
			h.Set("If-None-Match", cached.ETag)
		}
		if cached.LastModified != "" {
			h.Set("If-Modified-Since", cached.LastModified)
		}
	}
	resp, err := u.get(ctx, req.URL, h)
	if err != nil {
		return Doc{}, err
	}
	defer resp.Body.Close()
	now := u.opts.Now()
	switch {
	case resp.StatusCode == http.StatusNotModified && hasCopy:
		cached.FetchedAt = now
		if etag := resp.Header.Get("ETag"); etag != "" {
			cached.ETag = etag
		}
		if lm := resp.Header.Get("Last-Modified"); lm != "" {
			cached.LastModified = lm
		}
		endCommit := func(failed bool) {}
		if answerEarly != nil {
			// The body is the one held: only the row is committing.
			endCommit = u.endFlightAtCommit(req, u.answered.begin(docFlightKey(req), cached, nil))
			answerEarly(Doc{cached, Revalidated, false})
		}
		err := db.TouchDocument(ctx, u.opts.Name, req.Key, req.Variant, now, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"))
		if err != nil {
			endCommit(true)
			return Doc{}, err
		}
		u.rememberDoc(cached)
		endCommit(false)
		return Doc{cached, Revalidated, false}, nil
	case resp.StatusCode != http.StatusOK:
		return Doc{}, statusError(resp)
	}

	body, err := readAll(io.LimitReader(resp.Body, u.opts.MaxDocumentSize+1))
	if err != nil {
		return Doc{}, u.bodyFailed(resp, fmt.Errorf("reading %s: %w", req.Key, err))
	}
	if int64(len(body)) > u.opts.MaxDocumentSize {
		return Doc{}, fmt.Errorf("%w: %s is over %d bytes", ErrTooLarge, req.Key, u.opts.MaxDocumentSize)
	}
	prep, err := req.Prepare(body, resp.Header.Get("Content-Type"))
	if err != nil {
		return Doc{}, &UpstreamError{Upstream: resp.Request.URL.Host, Status: http.StatusBadGateway,
			Err: fmt.Errorf("unusable document for %s: %w", req.Key, err)}
	}
	if req.SerialHeader != "" && prep.Serial == 0 {
		prep.Serial, _ = strconv.ParseInt(resp.Header.Get(req.SerialHeader), 10, 64)
	}
	if hasCopy && prep.Serial != 0 && prep.Serial < cached.Serial {
		// An older page from a lagging CDN node: keep what is held.
		u.log.Warn("upstream sent an older serial; keeping the cached copy", "key", req.Key, "got", prep.Serial, "held", cached.Serial)
		// Checked now, all the same: ask again after the TTL, not on every request.
		if err := db.TouchDocument(ctx, u.opts.Name, req.Key, req.Variant, now, "", ""); err != nil {
			return Doc{}, err
		}
		cached.FetchedAt = now
		u.rememberDoc(cached)
		return Doc{cached, Revalidated, false}, nil
	}
	// On offer to fills ahead until the document is stored (or not).
	defer u.offerPrepared(ctx, prep.Artifacts)()
	fresh := storage.Document{
		Registry: u.opts.Name, Key: req.Key, Variant: req.Variant,
		ContentType: prep.ContentType,
		ETag:        resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"),
		Serial: prep.Serial, FetchedAt: now,
	}
	endCommit := func(failed bool) {}
	if answerEarly != nil {
		early := fresh
		early.Size, early.Body = int64(len(prep.Body)), storage.DigestOf(prep.Body)
		endCommit = u.endFlightAtCommit(req, u.answered.begin(docFlightKey(req), early, prep.Body))
		answerEarly(Doc{early, Miss, false})
	}
	doc, err := u.env.Store.KeepDocument(ctx, storage.NewDocument{Doc: fresh, Package: req.Package, Announces: prep.Artifacts}, prep.Body)
	if err != nil {
		endCommit(true)
		return Doc{}, err
	}
	// Remembered first: whoever waited for the commit finds it.
	u.rememberDoc(doc)
	endCommit(false)
	return Doc{doc, Miss, false}, nil
}

// endFlightAtCommit makes end, the end of a commit answered before, end
// the flight too: whoever waited for the commit asked after the answer,
// and fetches as if the commit had come first instead of joining a flight
// whose upstream exchange is over (its status, or its failed commit's
// error, would be answered to a request it predates). The flight's own
// callers still have its result.
func (u *Upstream) endFlightAtCommit(req DocRequest, end func(failed bool)) func(failed bool) {
	return func(failed bool) {
		u.docs.Forget(docFlightKey(req))
		end(failed)
	}
}

// rereadDocument is document for a flight, whose starter found a copy or
// not (hadCopy). Only this process writes a database it does not share,
// and every flight remembers the row it stored: when no copy was found, a
// copy stored since is in memory, and the database need not be asked
// again (a query each cold package would pay twice).
func (u *Upstream) rereadDocument(ctx context.Context, key, variant string, hadCopy bool) (storage.Document, error) {
	if hadCopy || u.env.NoMemoryCache || u.env.Store.DB.Shared() {
		return u.document(ctx, key, variant)
	}
	if d, ok := u.docRows.get(docKey{key, variant}); ok {
		return d, nil
	}
	return storage.Document{}, fmt.Errorf("document %s (%s): %w", key, variant, storage.ErrNotFound)
}

// Cached returns a stored document without any upstream traffic.
func (u *Upstream) Cached(ctx context.Context, key, variant string) (storage.Document, error) {
	return u.document(ctx, key, variant)
}

// RenderStored serves a stored document's body as it is, once per body
// and content type: for ecosystems whose documents need no rewriting.
func (u *Upstream) RenderStored(ctx context.Context, doc storage.Document, contentType string) (*Rendered, error) {
	return u.env.Renders.Get(ctx, u.opts.Name+"\x00"+string(doc.Body)+"\x00"+contentType, func() (*Rendered, error) {
		body, err := u.Body(ctx, doc)
		if err != nil {
			return nil, err
		}
		return NewRendered(body, contentType), nil
	})
}

// Body reads a stored document's body.
func (u *Upstream) Body(ctx context.Context, doc storage.Document) ([]byte, error) {
	if b, ok := u.answered.body(doc.Body); ok {
		return b, nil
	}
	rc, _, err := u.env.Store.OpenBody(ctx, doc.Body)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readAll(rc)
}
