package registries

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// A View is a read-only view of every registry as of a moment: the path
// prefix /@{label}/, where label is an RFC 3339 date ("2026-03-01", the
// start of that day in UTC) or date-time ("2026-03-01T12:00:00Z"), or an ISO
// 8601 duration ("P3D": as of three days before each request). Documents
// and downloads are filtered as the release-age policy filters them, with
// the cutoff at that moment.
type View struct {
	Label string        // as the path spells it, without the "@"
	At    time.Time     // a fixed moment; zero for an age
	Ago   time.Duration // how long before each request, when At is zero
}

// ParseView reads the label of a /@{label}/ prefix.
func ParseView(label string) (View, error) {
	if label == "" {
		return View{}, fmt.Errorf("/@/: want a date (2026-03-01), a date-time (2026-03-01T12:00:00Z) or an age (P3D) after @")
	}
	if strings.HasPrefix(label, "P") || strings.HasPrefix(label, "p") {
		d, err := parseISODuration(label)
		if err != nil {
			return View{}, err
		}
		return View{Label: label, Ago: d}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, label); err == nil {
		return View{Label: label, At: t}, nil
	}
	if t, err := time.Parse(time.DateOnly, label); err == nil {
		return View{Label: label, At: t}, nil
	}
	return View{}, fmt.Errorf("%q is neither a date (2026-03-01), a date-time (2026-03-01T12:00:00Z) nor an age (P3D)", label)
}

// Time is the view's moment for a request at now.
func (v View) Time(now time.Time) time.Time {
	if v.At.IsZero() {
		return now.Add(-v.Ago)
	}
	return v.At
}

type viewKey struct{}

// WithView is ctx for a request made through the view v.
func WithView(ctx context.Context, v View) context.Context {
	return context.WithValue(ctx, viewKey{}, v)
}

// ViewOf is the view a request came through, if any.
func ViewOf(ctx context.Context) (View, bool) {
	v, ok := ctx.Value(viewKey{}).(View)
	return v, ok
}

// MountPath is a registry's mount as a request of this view names it:
// "npm", or "@2026-03-01/npm".
func (r Request) MountPath(name string) string {
	if r.View.Label == "" {
		return name
	}
	return "@" + r.View.Label + "/" + name
}

// BaseURL is the registry's public base URL for this request, in the view
// it came through: what the documents it gets link to.
func (r Request) BaseURL(publicURL, name string) string {
	return BaseURLOf(r.Host, r.TLS, publicURL, r.MountPath(name))
}

// MountPathIn is a registry's mount as a request under ctx names it:
// "cargo", or "@2026-03-01/cargo" when it came through a view, for the
// links a kind writes outside its documents (Cargo's config.json).
func MountPathIn(ctx context.Context, name string) string {
	if v, ok := ViewOf(ctx); ok {
		return "@" + v.Label + "/" + name
	}
	return name
}
