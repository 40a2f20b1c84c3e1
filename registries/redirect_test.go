package registries

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// A redirect to a host larder may not fetch from is refused, and is no
// sign that the upstream is unwell: the upstream answered. Three at once
// must not mark it down.
func TestARefusedRedirectIsNotAFailureOfTheUpstream(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	f := newFakeUpstream(t)
	f.handle("/left-pad", http.RedirectHandler("http://cdn.example/left-pad", http.StatusFound))
	u := e.upstream(t, f.URL("/"), Options{FailuresToDown: 3})
	for range 3 {
		_, err := u.Document(context.Background(), DocRequest{Key: "left-pad", Variant: "full", URL: f.URL("/left-pad"),
			Prepare: func(b []byte, ct string) (Prepared, error) { return Prepared{Body: b, ContentType: ct}, nil }})
		if !errors.Is(err, errRedirectRefused) || StatusOf(err) != http.StatusBadGateway {
			t.Fatalf("Document = %v (status %d), want the redirect refused, a 502", err, StatusOf(err))
		}
	}
	if st := u.Health().State(); st.Status != StatusUp {
		t.Errorf("after three refused redirects the upstream is %s (%s), want up", st.Status, st.LastError)
	}
}
