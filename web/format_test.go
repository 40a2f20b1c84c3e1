package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"
)

func TestSizesAreWrittenInBinaryUnits(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {100 << 10, "100 KiB"},
		{5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}, {1 << 40, "1.0 TiB"},
	} {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestNumbersGroupThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := formatNum(n); got != want {
			t.Errorf("formatNum(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestHitRatiosNeverRoundAMissOrAHitAway(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tt := range []struct {
		r    *float64
		want string
	}{
		{nil, "—"}, {f(0), "0%"}, {f(0.0001), "0.1%"}, {f(0.005), "0.5%"}, {f(0.36), "36%"},
		{f(0.995), "99.5%"}, {f(0.99999), "99.9%"}, {f(1), "100%"},
	} {
		if got := formatRatio(tt.r); got != tt.want {
			t.Errorf("formatRatio(%v) = %q, want %q", deref64(tt.r), got, tt.want)
		}
	}
}

func deref64(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestTimesReadAsHowLongAgo(t *testing.T) {
	for _, tt := range []struct {
		ago  time.Duration
		want string
	}{
		{10 * time.Second, "just now"}, {70 * time.Second, "1 minute ago"}, {5 * time.Minute, "5 minutes ago"},
		{3 * time.Hour, "3 hours ago"}, {50 * time.Hour, "2 days ago"}, {90 * 24 * time.Hour, "3 months ago"},
		{3 * 365 * 24 * time.Hour, "3 years ago"}, {-2 * time.Hour, "in 2 hours"},
	} {
		if got := formatAgo(now.Add(-tt.ago), now); got != tt.want {
			t.Errorf("%v ago: %q, want %q", tt.ago, got, tt.want)
		}
	}
	if got := formatAgo(time.Time{}, now); got != "never" {
		t.Errorf("the zero time: %q", got)
	}
}

func TestZeroTimesAreNullInJSON(t *testing.T) {
	b, _ := json.Marshal(struct{ A, B jsonTime }{stamp(time.Time{}), stamp(now)})
	if string(b) != `{"A":null,"B":"2025-06-01T12:00:00Z"}` {
		t.Errorf("%s", b)
	}
}

func TestThePagerShowsTheEndsAndTheNeighbourhood(t *testing.T) {
	for _, tt := range []struct {
		page, pages int
		want        string
	}{
		{1, 1, "[]"},
		{1, 2, "[*1 2]"},
		{1, 10, "[*1 2 3 … 10]"},
		{5, 10, "[1 … 3 4 *5 6 7 … 10]"},
		{4, 10, "[1 2 3 *4 5 6 … 10]"},
		{10, 10, "[1 … 8 9 *10]"},
		{12, 10, "[1 … 10]"},
	} {
		v := packageListView{Page: tt.page, Pages: tt.pages, html: "/r/npm", params: listParams{Page: tt.page, PerPage: defaultPerPage}}
		var got []string
		for _, p := range v.Pager() {
			switch {
			case p.Gap:
				got = append(got, "…")
			case p.Current:
				got = append(got, fmt.Sprintf("*%d", p.N))
			default:
				got = append(got, fmt.Sprint(p.N))
			}
		}
		if s := fmt.Sprint(got); s != tt.want && !(tt.want == "[]" && got == nil) {
			t.Errorf("page %d of %d: %s, want %s", tt.page, tt.pages, s, tt.want)
		}
	}
}

func TestListParametersRoundTrip(t *testing.T) {
	for _, q := range []string{"", "q=react", "match=prefix&q=re", "sort=hits", "dir=asc&sort=hits", "dir=desc", "page=3&per_page=20", "sort=size&dir=desc"} {
		v, _ := url.ParseQuery(q)
		p, err := parseListParams(v)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		back := p.values(p.Page)
		p2, _ := parseListParams(back)
		if p2 != p {
			t.Errorf("%q: read %+v, wrote %q, read back %+v", q, p, back.Encode(), p2)
		}
	}
}
