package registries

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// An artifact is downloaded once, however many clients ask for it at once: the
// first request starts a fill, which runs detached from any client; every
// request for the same artifact joins it and streams the bytes as they land
// in the blob store's writer. Waiters share the fill's state and read the
// bytes back from the writer; no io.Reader is ever shared between them.
//
// A client never receives the complete bytes of an artifact that failed
// verification: the last byte is held back until the digest is checked, and a
// failure after the headers were sent cuts the connection. Small artifacts
// (under holdBack) are verified entirely before the status line is sent, so a
// mismatch is a clean 502. Verified bytes go out at once, from the writer,
// while they are made durable and their row is written: a cold install
// waits for the upstream, not for larder's fsync and database (issue 21).
// Close waits for those commits, so an artifact a client received is held
// after a restart unless its commit failed.

const holdBack = 1 << 20

type fillTable struct {
	mu sync.Mutex
	m  map[string]*fill
	// running counts the downloads under way, whose context stop
	// cancels: Close stops them and waits for the commits of those
	// already verified.
	running sync.WaitGroup
	ctx     context.Context
	stop    context.CancelFunc
	closed  bool // Close has begun: nothing more starts
	// parsed holds, by path, the entries of documents loaded ahead of a
	// fill, parsed and not yet stored (offerPrepared): a fill ahead that
	// starts in that moment, for another version of the same package,
	// takes its entry from here rather than wait for the commit, which may
	// wait for company (storage.NoOneWaits).
	parsed map[string]*parsedEntry
	// finished counts the fills that have left m (added to with mu
	// held). A look-up of a row made when it read n is still true of this
	// process's fills while it reads n: none can have written the row
	// since. Atomic: every request for an artifact reads it, warm ones too.
	finished atomic.Uint64
}

// finishedCount is fills.finished, read before a look-up of a row.
func (u *Upstream) finishedCount() uint64 { return u.fills.finished.Load() }

// errClosing: larder is shutting down, and starts no download.
var errClosing = errors.New("larder is shutting down")

// track counts one more piece of work Close waits for, unless Close has
// begun. Call it with mu held.
func (t *fillTable) track() bool {
	if t.closed {
		return false
	}
	t.running.Add(1)
	return true
}

// close refuses new work and waits, up to wait, for what runs.
func (t *fillTable) close(wait time.Duration) bool {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.stop()
	done := make(chan struct{})
	go func() { t.running.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(wait):
		return false
	}
}

type fill struct {
	art storage.Artifact
	// announced, for a fill started ahead of its document, gives the
	// outcome of loading that document; nil otherwise.
	announced <-chan error
	// prepared, for a fill started ahead, receives the document's entry
	// for the artifact as soon as the document is parsed (offerPrepared),
	// before it is stored.
	prepared chan storage.Artifact
	// announce, for a fill started ahead, loads the document; it starts
	// with the fill. reannounce loads it again, for a copy within its TTL
	// that turned out not to announce the artifact.
	announce   func()
	reannounce func(context.Context) error
	// The outcome of announced, once received (see awaitAnnounce).
	announceOnce sync.Once
	announceErr  error

	// answerable is closed (under mu) once a client may be answered: the
	// fill is done or verified, or holdBack bytes of it are in. A client
	// waits on it alone, not on every chunk of the download.
	answerable chan struct{}

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	started bool          // the upstream answered 200 and w is set
	size    int64         // -1 when the upstream did not say
	w       storage.BlobWriter
	written int64
	// verified: all bytes are in w and passed the check; they may all go
	// to clients, while done waits for them to be durable and recorded.
	verified bool
	done     bool
	err      error
	digest   storage.Digest
}

// awaitAnnounce is the outcome of loading the document a fill was started
// ahead of, waiting for it the first time; nil for a fill not started
// ahead. Only the fill's download calls it.
func (f *fill) awaitAnnounce() error {
	if f.announced != nil {
		f.announceOnce.Do(func() { f.announceErr = <-f.announced })
	}
	return f.announceErr
}

func newFill(a storage.Artifact) *fill {
	return &fill{art: a, size: -1, changed: make(chan struct{}), answerable: make(chan struct{})}
}

func (f *fill) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
	select {
	case <-f.answerable:
	default:
		if f.done || f.verified || (f.started && f.written >= holdBack) {
			close(f.answerable)
		}
	}
}

type fillState struct {
	started, verified, done bool
	size, written           int64
	err                     error
	digest                  storage.Digest
	w                       storage.BlobWriter
	changed                 <-chan struct{}
}

func (f *fill) state() fillState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fillState{f.started, f.verified, f.done, f.size, f.written, f.err, f.digest, f.w, f.changed}
}

// ArtifactOptions say how an ecosystem's artifacts are served.
type ArtifactOptions struct {
	ContentType  string
	CacheControl string // e.g. "public, max-age=31536000, immutable"
}

// ServeArtifact answers a request for an artifact: from the blob store when
// held, else by joining or starting its download.
func (u *Upstream) ServeArtifact(w http.ResponseWriter, r *http.Request, a storage.Artifact, o ArtifactOptions) error {
	return u.serveArtifact(w, r, a, o, noLookUp)
}

// serveArtifact is ServeArtifact for a row read after the count of
// finished fills was seen (see startFill): while no fill has finished
// since, a row not held is not read again before its download starts.
func (u *Upstream) serveArtifact(w http.ResponseWriter, r *http.Request, a storage.Artifact, o ArtifactOptions, seen uint64) error {
	if a.Cached() {
		err := u.serveBlob(w, r, a, o, Hit)
		if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		// The row said held but the blob is gone: evicted meanwhile, or
		// lost (see blobGone).
		if a, err = u.blobGone(r.Context(), a); err != nil {
			return err
		}
		if a.Cached() {
			return u.serveBlob(w, r, a, o, Hit)
		}
	}
	// A download already under way is joined whatever has happened to
	// the upstream since it began: its bytes are arriving.
	if f := u.fillOf(a.Path); f != nil {
		return u.serveFill(w, r, f, o, true)
	}
	if !u.reachableFor(r.Context()) {
		return u.notCached(a.Path)
	}
	f, err := u.joinFill(r.Context(), a, seen)
	if err != nil {
		return err
	}
	if f == nil { // completed between our look-up and now
		a, err = u.env.Store.DB.Artifact(r.Context(), a.Registry, a.Path)
		if err != nil {
			return err
		}
		return u.serveBlob(w, r, a, o, Hit)
	}
	return u.serveFill(w, r, f, o, false)
}

func (u *Upstream) serveBlob(w http.ResponseWriter, r *http.Request, a storage.Artifact, o ArtifactOptions, status CacheStatus) error {
	if u.redirect(w, r, a, o, status) {
		return nil
	}
	var content io.ReadSeeker
	small, ok := u.small.get(a.SHA256)
	if ok {
		content = bytes.NewReader(small)
	} else {
		rc, size, err := u.env.Store.OpenArtifact(r.Context(), a.SHA256, a.Size)
		if err != nil {
			return err
		}
		defer rc.Close()
		if a.Size > 0 && size != a.Size {
			// Cut short (or grown) on disk: never answered as the file.
			// Set aside, it is fetched again (see blobGone).
			u.setAside(r.Context(), a, fmt.Sprintf("%d bytes on disk, %d in its row", size, a.Size))
			return fmt.Errorf("%s: %w", a.Path, storage.ErrNotFound)
		}
		content = rc
		if size <= smallBlobMax {
			if b, ok := readSmall(rc, a.SHA256, size); ok {
				u.small.put(a.SHA256, b)
				content, small = bytes.NewReader(b), b
			} else if _, err := rc.Seek(0, io.SeekStart); err != nil {
				return err
			}
		}
	}
	defer corkResponse(w, r)()
	// Canonical keys assigned directly: Header.Set canonicalizes each key
	// on every call, a visible cost on small cached files.
	h := w.Header()
	Quick{ETag: etagOf(a.SHA256), Cache: status, ArtifactOptions: o}.EachHeader(func(k, v string) { h[k] = []string{v} })
	served := Served(r.Context())
	u.count("artifact", status, served)
	if served {
		u.env.Hits.Add(a.Registry, a.Package, a.Path)
	}
	if small != nil && plainRequest(r) {
		// The common case, a whole small file: one write, none of
		// ServeContent's range and precondition work.
		h["Content-Length"] = []string{strconv.Itoa(len(small))}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			writeCached(w, small)
			u.served.bytes.Add(float64(len(small)))
		}
		return nil
	}
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", time.Time{}, content)
	u.served.bytes.Add(float64(cw.n))
	return nil
}

// setAside moves a blob that is not the bytes its row names out of reach,
// so that the artifact is fetched again rather than served wrong.
func (u *Upstream) setAside(ctx context.Context, a storage.Artifact, why string) {
	u.small.drop(a.SHA256)
	where, err := u.env.Store.Quarantine(ctx, a.SHA256)
	if errors.Is(err, storage.ErrNoQuarantine) {
		u.log.Error("held blob is not what its row says; it cannot be set aside here", "path", a.Path, "sha256", a.SHA256, "why", why)
		return
	}
	u.log.Error("held blob is not what its row says; set aside, to be fetched again", "path", a.Path, "sha256", a.SHA256, "why", why, "to", where, "err", err)
}

func etagOf(d storage.Digest) string { return `"sha256-` + string(d) + `"` }

// plainRequest is a request without ranges or preconditions. The server
// has canonicalized the request's header keys.
func plainRequest(r *http.Request) bool {
	for _, k := range ConditionalHeaders {
		if HeaderValue(r.Header, k) != "" {
			return false
		}
	}
	return true
}

// ConditionalHeaders are the request headers that make a request for an
// artifact more than a plain one: ranges and preconditions.
var ConditionalHeaders = [...]string{"Range", "If-None-Match", "If-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"}

// count counts an answer in /metrics, and in the UI's traffic when it
// served a client (not a warm fill).
func (u *Upstream) count(kind string, status CacheStatus, served bool) {
	switch {
	case status == Hit && kind == "artifact":
		u.served.artifactHits.Inc()
	case status == Hit && kind == "document":
		u.served.documentHits.Inc()
	default:
		u.env.Metrics.Requests.WithLabelValues(u.opts.Name, kind, string(status)).Inc()
	}
	if status != "ERROR" && served {
		u.traffic.add(status, time.Now())
	}
}

// Traffic returns the cache-versus-upstream counts of this registry.
func (u *Upstream) Traffic() *Traffic { return &u.traffic }

// fillOf is the fill in progress for path, or nil.
func (u *Upstream) fillOf(path string) *fill {
	u.fills.mu.Lock()
	defer u.fills.mu.Unlock()
	return u.fills.m[path]
}

// joinFill returns the fill in progress for a, starting one if none is. It
// returns nil when the artifact was stored meanwhile. seen is as for
// startFill.
func (u *Upstream) joinFill(ctx context.Context, a storage.Artifact, seen uint64) (*fill, error) {
	return u.startFill(ctx, a.Path, seen, func() *fill { return newFill(a) })
}

// noLookUp tells startFill that its caller read no row it can vouch for.
const noLookUp = ^uint64(0)

// startFill returns the fill in progress for path, or starts the one
// newFill makes; nil when the artifact was stored meanwhile (a fill that
// just finished has left the table after writing its row). seen is the
// count of finished fills (finishedCount) read before the caller found no
// row held, or noLookUp: while no fill has finished since, that finding
// stands, and the database is not read again. The database is read
// outside the table's lock, which every request for a cold artifact takes;
// a fill that finished in between makes it read again.
func (u *Upstream) startFill(ctx context.Context, path string, seen uint64, newFill func() *fill) (*fill, error) {
	for {
		if f := u.fillOf(path); f != nil {
			return f, nil
		}
		if now := u.finishedCount(); seen == noLookUp || seen != now {
			seen = now
			if cur, err := u.env.Store.DB.Artifact(ctx, u.opts.Name, path); err == nil && cur.Cached() {
				return nil, nil
			}
		}
		f, started, err := u.registerFill(path, seen, newFill)
		if f != nil || err != nil || started {
			return f, err
		}
	}
}

// registerFill puts the fill newFill makes in the table, unless one is
// there already (which it returns) or a fill finished since seen (nothing
// is started: the caller looks again).
func (u *Upstream) registerFill(path string, seen uint64, newFill func() *fill) (f *fill, started bool, err error) {
	u.fills.mu.Lock()
	defer u.fills.mu.Unlock()
	if f, ok := u.fills.m[path]; ok {
		return f, false, nil
	}
	if u.fills.finished.Load() != seen {
		return nil, false, nil
	}
	if !u.fills.track() {
		return nil, false, errClosing
	}
	f = newFill()
	if e := u.fills.parsed[path]; e != nil && f.prepared != nil {
		f.prepared <- e.art
	}
	u.fills.m[path] = f
	goBackground(func() { u.runFill(f) })
	if f.announce != nil {
		goBackground(f.announce)
	}
	return f, true, nil
}

// serveAhead serves an artifact larder has never seen, fetched from its
// conventional URL while its document is loaded (see downloadAhead).
// seen is the count of finished fills read before the caller found no row
// held (see startFill).
func (u *Upstream) serveAhead(w http.ResponseWriter, r *http.Request, t *ArtifactTarget, seen uint64) error {
	ctx := r.Context()
	if f := u.fillOf(t.Path); f != nil {
		return u.serveFill(w, r, f, t.Options, true)
	}
	if !u.reachableFor(ctx) {
		return u.notCached(t.Path)
	}
	f, err := u.joinFillAhead(ctx, t, seen)
	if err != nil {
		return err
	}
	if f == nil { // stored between our look-up and now
		a, err := u.env.Store.DB.Artifact(ctx, u.opts.Name, t.Path)
		if err != nil {
			return err
		}
		return u.serveBlob(w, r, a, t.Options, Hit)
	}
	return u.serveFill(w, r, f, t.Options, false)
}

// joinFillAhead is joinFill for an artifact whose row does not exist yet:
// it joins the fill in progress for the path (ahead or not), or starts one
// ahead of the document, whose loading it starts too.
func (u *Upstream) joinFillAhead(ctx context.Context, t *ArtifactTarget, seen uint64) (*fill, error) {
	return u.startFill(ctx, t.Path, seen, func() *fill {
		announced := make(chan error, 1)
		// Detached: the document is loaded for every client of the fill,
		// and for the next ones, whoever started it.
		// No one waits for its writes: see storage.NoOneWaits.
		actx := storage.NoOneWaits(context.WithValue(context.WithoutCancel(ctx), loadedAheadKey{}, true))
		f := newFill(storage.Artifact{Registry: u.opts.Name, Package: t.Package, Path: t.Path, UpstreamURL: t.Upstream})
		f.announced, f.prepared = announced, make(chan storage.Artifact, 1)
		f.announce = func() { announced <- t.Announce(actx) }
		f.reannounce = t.Announce
		return f
	})
}

func (u *Upstream) runFill(f *fill) {
	defer u.fills.running.Done()
	a := f.art
	err := u.download(f)
	if err != nil {
		u.log.Warn("artifact download failed; nothing stored", "path", a.Path, "url", a.UpstreamURL, "err", err)
	}
	u.fills.mu.Lock()
	delete(u.fills.m, a.Path)
	u.fills.finished.Add(1)
	u.fills.mu.Unlock()
	f.mu.Lock()
	f.done, f.err = true, err
	f.notify()
	f.mu.Unlock()
}

func (u *Upstream) download(f *fill) error {
	ctx, cancel := context.WithTimeout(u.fills.ctx, 6*time.Hour)
	defer cancel()
	// Nodes that share a database fetch an artifact once between them:
	// the others wait here, then find it held and serve what was kept.
	// Alone, startFill has made sure of that already.
	if u.env.Store.DB.Shared() {
		release, err := u.env.Store.ClusterLock(ctx, "artifact\x00"+f.art.Registry+"\x00"+f.art.Path)
		if err != nil {
			return err
		}
		defer release()
		if cur, err := u.env.Store.DB.Artifact(ctx, f.art.Registry, f.art.Path); err == nil && cur.Cached() {
			f.mu.Lock()
			f.digest = cur.SHA256
			f.mu.Unlock()
			return nil
		}
	}
	if f.announced != nil {
		return u.downloadAhead(ctx, f)
	}
	a := f.art
	verify, err := u.verifierFor(ctx, a)
	if err != nil {
		return err
	}
	defer closeVerifier(verify)
	bw, err := u.fetchInto(ctx, f, a, verify)
	if bw != nil {
		defer bw.Cancel()
	}
	if err != nil {
		return err
	}
	return u.keep(ctx, f, a, bw, verify)
}

// downloadAhead fetches an artifact from its conventional URL while the
// document that announces it is fetched beside it (ArtifactTarget.Upstream),
// and checks the bytes once both are in: a cold artifact costs one round
// trip, not two. The bytes reach clients as they arrive, the last one held
// back as for any download until they are verified.
func (u *Upstream) downloadAhead(ctx context.Context, f *fill) error {
	guess := f.art
	bw, ferr := u.fetchInto(ctx, f, guess, nil)
	if bw != nil {
		defer bw.Cancel()
	}
	// The document's loading ends before this download does, so that
	// Close, which waits for downloads, waits for it too.
	defer f.awaitAnnounce()
	a, err := u.declaredAhead(ctx, f)
	if err != nil {
		return err
	}
	verify, err := u.verifierFor(ctx, a)
	if err != nil {
		return err
	}
	defer closeVerifier(verify)
	if ferr != nil {
		if f.state().started || a.UpstreamURL == guess.UpstreamURL {
			return ferr
		}
		// Nothing reached a client, and the document names another
		// place: fetch from there, as without a guess.
		bw2, err := u.fetchInto(ctx, f, a, verify)
		if bw2 != nil {
			defer bw2.Cancel()
		}
		if err != nil {
			return err
		}
		return u.keep(ctx, f, a, bw2, verify)
	}
	if verify.Unchecked() && a.UpstreamURL != guess.UpstreamURL {
		// Nothing vouches for these bytes but the place they came from,
		// and the document names another one.
		return fmt.Errorf("%s: its document declares no digest and names %s, not %s, where larder fetched it ahead", a.Path, a.UpstreamURL, guess.UpstreamURL)
	}
	// The bytes are in the blob writer: check them against the document.
	pooled := copyBuffer()
	_, err = io.CopyBuffer(verify, io.NewSectionReader(bw, 0, bw.Written()), *pooled)
	putCopyBuffer(pooled)
	if err != nil {
		return err
	}
	return u.keep(ctx, f, a, bw, verify)
}

// declaredAhead is what the document loaded beside an ahead fill declares
// for its artifact: taken from the parsed document when it comes to that
// (the client need not wait for the document to be stored), otherwise
// from the rows the loading left.
func (u *Upstream) declaredAhead(ctx context.Context, f *fill) (storage.Artifact, error) {
	var aerr error
	select {
	case a := <-f.prepared:
		return a, nil
	case aerr = <-f.announced:
		f.announceOnce.Do(func() { f.announceErr = aerr })
	case <-ctx.Done():
		return storage.Artifact{}, ctx.Err()
	}
	if aerr != nil {
		return storage.Artifact{}, aerr
	}
	a, err := u.preparedOrHeld(ctx, f)
	if errors.Is(err, storage.ErrNotFound) {
		// The copy held may predate the release: ask the upstream again.
		if err := f.reannounce(revalidating(ctx)); err != nil {
			return storage.Artifact{}, err
		}
		a, err = u.preparedOrHeld(ctx, f)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return a, fmt.Errorf("%w: its document does not announce %s", ErrNotFound, f.art.Path)
	}
	return a, err
}

// preparedOrHeld is the entry for f's artifact that a document parsed for
// the fill offered, or else its row.
func (u *Upstream) preparedOrHeld(ctx context.Context, f *fill) (storage.Artifact, error) {
	select {
	case a := <-f.prepared:
		return a, nil
	default:
		// Not parsed for this fill: a held copy revalidated, or a load
		// that began before the fill did.
	}
	return u.env.Store.DB.Artifact(ctx, f.art.Registry, f.art.Path)
}

// offerPrepared hands each fill started ahead of its document the entry a
// freshly parsed document declares for its artifact, before the document
// is stored: the download is checked against it, and its clients answered,
// while the document is still being written. For a document loaded ahead
// of a fill (loadedAhead), the entries stay on offer to the fills that
// start until it is stored: the returned function takes them back.
func (u *Upstream) offerPrepared(ctx context.Context, arts []storage.Artifact) (stored func()) {
	keep := loadedAhead(ctx)
	u.fills.mu.Lock()
	defer u.fills.mu.Unlock()
	if !keep && len(u.fills.m) == 0 {
		return func() {}
	}
	var kept []*parsedEntry
	for _, a := range arts {
		a.Registry = u.opts.Name
		if f := u.fills.m[a.Path]; f != nil && f.prepared != nil {
			select {
			case f.prepared <- a:
			default: // offered by an earlier document already
			}
		}
		if keep {
			e := &parsedEntry{art: a}
			u.fills.parsed[a.Path] = e
			kept = append(kept, e)
		}
	}
	return func() {
		u.fills.mu.Lock()
		defer u.fills.mu.Unlock()
		for _, e := range kept {
			if u.fills.parsed[e.art.Path] == e {
				delete(u.fills.parsed, e.art.Path)
			}
		}
	}
}

// parsedEntry is an artifact's entry in a parsed document not yet stored;
// its identity tells the document's own entry from a later one's.
type parsedEntry struct{ art storage.Artifact }

type loadedAheadKey struct{}

// loadedAhead says whether ctx loads a document ahead of a fill
// (joinFillAhead), whose entries offerPrepared keeps on offer.
func loadedAhead(ctx context.Context) bool {
	v, _ := ctx.Value(loadedAheadKey{}).(bool)
	return v
}

// closeVerifier releases what a verifier holds (a spool file, say),
// however the download ends.
func closeVerifier(v Verifier) {
	if c, ok := v.(io.Closer); ok {
		c.Close()
	}
}

// verifierFor makes the verifier of a by the registry's hook, and applies
// its policy for an artifact with nothing to check against.
func (u *Upstream) verifierFor(ctx context.Context, a storage.Artifact) (Verifier, error) {
	if err := u.mayFetch(a.UpstreamURL); err != nil {
		return nil, err
	}
	verify, err := u.opts.Verify(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.Path, err)
	}
	if verify.Unchecked() && u.opts.Unverifiable == RefuseUnverifiable {
		closeVerifier(verify)
		return nil, fmt.Errorf("%w: %s: its document declares no digest larder can check (declared %q), and this registry refuses such artifacts (unverifiable = %q)",
			ErrIntegrity, a.Path, a.Integrity, RefuseUnverifiable)
	}
	return verify, nil
}

// fetchInto downloads a's bytes from its upstream URL into a new blob
// writer that f's clients read as it fills, feeding verify (when set) as
// they arrive. The writer is returned, for the caller to cancel, whenever
// one was made.
func (u *Upstream) fetchInto(ctx context.Context, f *fill, a storage.Artifact, verify io.Writer) (storage.BlobWriter, error) {
	if err := u.mayFetch(a.UpstreamURL); err != nil {
		return nil, err
	}
	// identity: a server that gzips a .tgz on the wire would otherwise have
	// Go's transport hand back other bytes than the declared digest covers.
	resp, err := u.get(ctx, a.UpstreamURL, http.Header{"Accept-Encoding": {"identity"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp)
	}
	if resp.ContentLength > u.opts.MaxArtifactSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, over max_artifact_size", ErrTooLarge, a.Path, resp.ContentLength)
	}
	bw, err := u.env.Store.Blobs.Create(ctx)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.started, f.size, f.w = true, resp.ContentLength, bw
	f.notify()
	f.mu.Unlock()

	pooled := copyBuffer()
	defer putCopyBuffer(pooled)
	buf := *pooled
	var n int64
	for {
		k, rerr := resp.Body.Read(buf)
		if k > 0 {
			if n += int64(k); n > u.opts.MaxArtifactSize {
				return bw, fmt.Errorf("%w: %s is over max_artifact_size", ErrTooLarge, a.Path)
			}
			if verify != nil {
				verify.Write(buf[:k])
			}
			if _, err := bw.Write(buf[:k]); err != nil {
				return bw, fmt.Errorf("writing %s: %w", a.Path, err)
			}
			f.mu.Lock()
			f.written = n
			f.notify()
			f.mu.Unlock()
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return bw, u.bodyFailed(resp, fmt.Errorf("reading %s after %d bytes: %w", a.Path, n, rerr))
		}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return bw, u.bodyFailed(resp, fmt.Errorf("%s truncated: %d of %d bytes", a.Path, n, resp.ContentLength))
	}
	return bw, nil
}

// keep checks what bw holds and, only when it passes, makes it durable and
// writes a's row: the row is the completion marker.
func (u *Upstream) keep(ctx context.Context, f *fill, a storage.Artifact, bw storage.BlobWriter, verify Verifier) error {
	if err := verify.Check(); err != nil {
		return fmt.Errorf("%s from %s: %w", a.Path, redacted(a.UpstreamURL), err)
	}
	f.mu.Lock()
	f.verified = true
	f.notify()
	f.mu.Unlock()
	// Clients may have all the bytes now: what they received is kept even
	// when larder is shutting down.
	ctx = context.WithoutCancel(ctx)
	// A document loaded beside the artifact is held before the artifact
	// is: what follows a kept artifact (OnKept, the offline view) reads it.
	// Had it failed to store, the bytes still passed what it declared.
	f.awaitAnnounce()
	kept, err := u.env.Store.KeepBlob(ctx, bw)
	if err != nil {
		return err
	}
	// Bytes held for the row stay readable until it is written; then the
	// fill's clients read them by digest (copyRest), as any blob.
	defer kept.Release()
	digest := kept.Digest
	declared := a.Integrity
	a, firstSight := pinAtFirstSight(a, verify, digest)
	followed := u.followKept(a, kept)
	err = u.commitArtifact(ctx, a, kept)
	followed()
	if err != nil {
		return err
	}
	if firstSight {
		u.warnFirstSight(declared, a)
	}
	f.mu.Lock()
	f.digest = digest
	f.mu.Unlock()
	return nil
}

// redacted is raw without user info, for messages.
func redacted(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}

// serveFill streams a fill in progress to one client; joined says the
// client found it under way rather than started it.
func (u *Upstream) serveFill(w http.ResponseWriter, r *http.Request, f *fill, o ArtifactOptions, joined bool) error {
	ctx := r.Context()
	// Wait for the upstream's answer, and for small artifacts for all of it
	// and its check: a HEAD as a GET, so that it never says 200 for bytes
	// that then fail.
	// A request that finds the bytes already verified takes nothing from
	// the upstream: it is a HIT, though the bytes are still being recorded.
	status := Miss
	if first := f.state(); joined && first.verified && first.err == nil {
		status = Hit
	}
	select {
	case <-f.answerable:
	case <-ctx.Done():
		return ctx.Err()
	}
	st := f.state()
	if st.done && st.err != nil {
		u.count("artifact", "ERROR", true)
		return st.err
	}
	if st.done || r.Header.Get("Range") != "" {
		// Complete (or a range, which is served from the stored blob).
		if !st.done {
			if err := waitDone(ctx, f); err != nil {
				return err
			}
		}
		a, err := u.env.Store.DB.Artifact(ctx, f.art.Registry, f.art.Path)
		if err != nil {
			return err
		}
		return u.serveBlob(w, r, a, o, status)
	}

	// Not corked: the body arrives from the upstream as it is written.
	h := w.Header()
	h.Set("Content-Type", o.ContentType)
	h.Set("Cache-Control", o.CacheControl)
	h.Set("X-Larder-Cache", string(status))
	if st.size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(st.size, 10))
	}
	served := Served(r.Context())
	u.count("artifact", status, served)
	if served {
		u.env.Hits.Add(f.art.Registry, f.art.Package, f.art.Path)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	n, err := u.streamFill(ctx, w, f)
	u.served.bytes.Add(float64(n))
	if err != nil {
		// Headers are gone: the only honest signal left is a cut connection.
		u.log.Warn("cutting a client off a failed download", "path", f.art.Path, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// Settle waits until every artifact whose bytes clients may already have
// received (verified, being made durable) is held, or ctx ends: after it,
// what was answered is in the database.
func (u *Upstream) Settle(ctx context.Context) error {
	u.fills.mu.Lock()
	var committing []*fill
	for _, f := range u.fills.m {
		if f.state().verified {
			committing = append(committing, f)
		}
	}
	u.fills.mu.Unlock()
	for _, f := range committing {
		if err := waitDone(ctx, f); err != nil && ctx.Err() != nil {
			return err
		}
	}
	return nil
}

func waitDone(ctx context.Context, f *fill) error {
	for {
		st := f.state()
		if st.done {
			return st.err
		}
		select {
		case <-st.changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// streamFill copies the fill's bytes to w as they arrive, holding back the
// last byte until the download is verified.
func (u *Upstream) streamFill(ctx context.Context, w io.Writer, f *fill) (int64, error) {
	pooled := copyBuffer()
	defer putCopyBuffer(pooled)
	buf := *pooled
	var off int64
	flusher, _ := w.(http.Flusher)
	for {
		st := f.state()
		if st.done {
			if st.err != nil {
				return off, st.err
			}
			return u.copyRest(ctx, w, st.digest, off)
		}
		limit := st.written
		switch {
		case st.verified:
		case st.size >= 0 && limit >= st.size:
			limit = st.size - 1
		case st.size < 0 && limit > 0:
			limit--
		}
		if off < limit {
			k := int64(len(buf))
			if limit-off < k {
				k = limit - off
			}
			n, err := st.w.ReadAt(buf[:k], off)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return off, werr
				}
				off += int64(n)
			}
			if err != nil && n == 0 {
				// The writer closed under us: the fill finished. Loop to see how.
				if err := waitDone(ctx, f); err != nil {
					return off, err
				}
			}
			continue
		}
		if st.verified {
			return off, nil
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-st.changed:
		case <-ctx.Done():
			return off, ctx.Err()
		}
	}
}

func (u *Upstream) copyRest(ctx context.Context, w io.Writer, d storage.Digest, off int64) (int64, error) {
	rc, _, err := u.env.Store.OpenArtifact(ctx, d, -1)
	if err != nil {
		return off, err
	}
	defer rc.Close()
	if _, err := rc.Seek(off, io.SeekStart); err != nil {
		return off, err
	}
	n, err := io.Copy(w, rc)
	return off + n, err
}

// countingWriter counts body bytes and keeps io.ReaderFrom visible, so that
// net/http can still use sendfile for blobs.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.ResponseWriter.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(r)
		c.n += n
		return n, err
	}
	n, err := io.Copy(struct{ io.Writer }{c.ResponseWriter}, r)
	c.n += n
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
