package registries

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRenderedGzipRoundTrips(t *testing.T) {
	t.Parallel()
	body := []byte(strings.Repeat("<a href=\"/files/x.whl\">x.whl</a>\n", 1000))
	r := NewRendered(body, "text/html")
	gz := r.Gzip()
	if len(gz) >= len(body) {
		t.Errorf("gzip of a repetitive page is %d bytes, not smaller than %d", len(gz), len(body))
	}
	if got := gunzip(t, gz); !bytes.Equal(got, body) {
		t.Errorf("gunzip(Gzip()) differs from the body")
	}
	if again := r.Gzip(); &again[0] != &gz[0] {
		t.Errorf("Gzip compressed the body a second time")
	}
}

func TestRenderedETag(t *testing.T) {
	t.Parallel()
	a := NewRendered([]byte("one"), "application/json")
	b := NewRendered([]byte("one"), "application/json")
	c := NewRendered([]byte("two"), "application/json")
	if !strings.HasPrefix(a.ETag, `"`) || !strings.HasSuffix(a.ETag, `"`) || strings.HasPrefix(a.ETag, "W/") {
		t.Errorf("ETag %s is not a strong, quoted tag", a.ETag)
	}
	if a.ETag != b.ETag {
		t.Errorf("equal bodies have different ETags: %s, %s", a.ETag, b.ETag)
	}
	if a.ETag == c.ETag {
		t.Errorf("different bodies share the ETag %s", a.ETag)
	}
}

func TestRenderCacheRendersOnceForConcurrentCallers(t *testing.T) {
	t.Parallel()
	c := NewRenderCache(0)
	var renders counter
	release := make(chan struct{})
	render := func() (*Rendered, error) {
		renders.inc()
		<-release
		return NewRendered([]byte("rendered"), "text/plain"), nil
	}
	const callers = 20
	var started, done sync.WaitGroup
	results := make([]*Rendered, callers)
	for i := range callers {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			r, err := c.Get(bg, "doc", render)
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	started.Wait()
	eventually(t, "the first render starts", func() bool { return renders.get() >= 1 })
	close(release) // callers still to come find the render in flight, or its result
	within(t, "concurrent Gets", func() bool { done.Wait(); return true })
	if n := renders.get(); n != 1 {
		t.Errorf("rendered %d times for %d concurrent callers, want once", n, callers)
	}
	for i, r := range results {
		if r != results[0] {
			t.Errorf("caller %d got a different rendering", i)
		}
	}
	if _, err := c.Get(bg, "doc", func() (*Rendered, error) { t.Error("rendered a cached key again"); return nil, nil }); err != nil {
		t.Error(err)
	}
}

func TestRenderCacheDoesNotKeepErrors(t *testing.T) {
	t.Parallel()
	c := NewRenderCache(0)
	boom := errors.New("bad document")
	if _, err := c.Get(bg, "doc", func() (*Rendered, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Get = %v, want the render's error", err)
	}
	r, err := c.Get(bg, "doc", func() (*Rendered, error) { return NewRendered([]byte("ok"), "text/plain"), nil })
	if err != nil || string(r.Body) != "ok" {
		t.Errorf("after a failed render, Get = %v, %v; want a fresh render", r, err)
	}
}

func TestRenderCacheEvictsLeastRecentlyUsedWithinItsBudget(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("x"), 1000) // costs 1000 + 100 + 512 = 1612
	c := NewRenderCache(3500)               // room for two
	renders := map[string]int{}
	get := func(key string) {
		t.Helper()
		if _, err := c.Get(bg, key, func() (*Rendered, error) {
			renders[key]++
			return NewRendered(body, "text/plain"), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	get("a")
	get("b")
	get("a") // a is now the most recently used
	get("c") // evicts b
	get("a")
	get("c")
	if want := map[string]int{"a": 1, "b": 1, "c": 1}; fmt.Sprint(renders) != fmt.Sprint(want) {
		t.Errorf("renders = %v, want %v (a and c kept)", renders, want)
	}
	get("b")
	if renders["b"] != 2 {
		t.Errorf("b was not evicted: rendered %d times", renders["b"])
	}
	if c.size > c.max {
		t.Errorf("cache holds %d bytes over its budget of %d", c.size, c.max)
	}
	if len(c.items) != 2 || c.order.Len() != 2 {
		t.Errorf("cache holds %d items (%d in order), want 2", len(c.items), c.order.Len())
	}
}

func TestRenderCacheServesButDoesNotKeepAGiant(t *testing.T) {
	t.Parallel()
	c := NewRenderCache(1000)
	small := func() (*Rendered, error) { return NewRendered([]byte("s"), "text/plain"), nil }
	if _, err := c.Get(bg, "small", small); err != nil {
		t.Fatal(err)
	}
	var renders int
	giant := func() (*Rendered, error) {
		renders++
		return NewRendered(bytes.Repeat([]byte("g"), 5000), "text/plain"), nil
	}
	for range 2 {
		r, err := c.Get(bg, "giant", giant)
		if err != nil || len(r.Body) != 5000 {
			t.Fatalf("Get(giant) = %v, %v", r, err)
		}
	}
	if renders != 2 {
		t.Errorf("giant rendered %d times, want every time (never kept)", renders)
	}
	if _, ok := c.items["small"]; !ok {
		t.Errorf("a giant that is not kept evicted the small item")
	}
}

var bg = context.Background()

func TestRenderCacheRunsAtMostOneRenderPerCPU(t *testing.T) {
	t.Parallel()
	c := NewRenderCache(0)
	slots := cap(c.slots)
	var running, most atomic.Int64
	release := make(chan struct{})
	render := func() (*Rendered, error) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		running.Add(-1)
		return NewRendered([]byte("r"), "text/plain"), nil
	}
	// One key per Host header, as a packument asked for under many names.
	const keys = 12
	var done sync.WaitGroup
	for i := range keys {
		done.Add(1)
		go func() {
			defer done.Done()
			if _, err := c.Get(bg, fmt.Sprintf("doc\x00http://host-%d/", i), render); err != nil {
				t.Error(err)
			}
		}()
	}
	eventually(t, "the slots fill", func() bool { return running.Load() == int64(slots) })
	time.Sleep(50 * time.Millisecond) // would let a render past the bound start
	if n := running.Load(); n != int64(slots) {
		t.Errorf("%d renders running at once, want %d (one per CPU)", n, slots)
	}
	close(release)
	within(t, "all renders", func() bool { done.Wait(); return true })
	if m := most.Load(); m > int64(slots) {
		t.Errorf("%d renders ran at once, want at most %d", m, slots)
	}
}

func TestRenderCacheStartsNoRenderForAClientThatLeft(t *testing.T) {
	t.Parallel()
	c := NewRenderCache(0)
	release := make(chan struct{})
	var renders counter
	block := func() (*Rendered, error) { <-release; return NewRendered([]byte("b"), "text/plain"), nil }
	// Every slot busy.
	var busy sync.WaitGroup
	for i := range cap(c.slots) {
		busy.Add(1)
		go func() { defer busy.Done(); c.Get(bg, fmt.Sprint("busy", i), block) }()
	}
	eventually(t, "the slots fill", func() bool { return len(c.slots) == cap(c.slots) })

	ctx, cancel := context.WithCancel(bg)
	gone := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, "abandoned", func() (*Rendered, error) { renders.inc(); return NewRendered([]byte("a"), "text/plain"), nil })
		gone <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := within(t, "the abandoned Get", func() error { return <-gone }); !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v, want context.Canceled", err)
	}
	// A second caller for the same key, still there, joins or restarts the
	// flight and gets its rendering.
	second := make(chan error, 1)
	go func() {
		_, err := c.Get(bg, "abandoned", func() (*Rendered, error) { renders.inc(); return NewRendered([]byte("a"), "text/plain"), nil })
		second <- err
	}()
	close(release)
	busy.Wait()
	if err := within(t, "the second Get", func() error { return <-second }); err != nil {
		t.Errorf("Get = %v", err)
	}
	if n := renders.get(); n != 1 {
		t.Errorf("rendered %d times, want once (for the caller that stayed)", n)
	}
}

func TestRenderCacheDoesNotPassOneClientsHangUpToTheOthers(t *testing.T) {
	t.Parallel()
	c := NewRenderCache(0)
	ctx, cancel := context.WithCancel(bg)
	started := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, "doc", func() (*Rendered, error) {
			close(started)
			<-ctx.Done() // reading the body under this client's context
			return nil, ctx.Err()
		})
		first <- err
	}()
	<-started
	second := make(chan error, 1)
	go func() {
		r, err := c.Get(bg, "doc", func() (*Rendered, error) { return NewRendered([]byte("ok"), "text/plain"), nil })
		if err == nil && string(r.Body) != "ok" {
			err = errors.New("another body")
		}
		second <- err
	}()
	time.Sleep(20 * time.Millisecond) // the second joins the first's flight
	cancel()
	if err := within(t, "the first Get", func() error { return <-first }); !errors.Is(err, context.Canceled) {
		t.Errorf("the client that left: %v, want context.Canceled", err)
	}
	if err := within(t, "the second Get", func() error { return <-second }); err != nil {
		t.Errorf("the client that stayed got %v, want its rendering", err)
	}
}
