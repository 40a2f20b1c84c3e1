package registries

import "testing"

func TestAnAppendOnlyDocumentReadsOnlyTheOpenEndedRangeItsClientsSend(t *testing.T) {
	for _, tc := range []struct {
		header string
		start  int
		ok     bool
	}{
		{"bytes=0-", 0, true},
		{"bytes=1234-", 1234, true},
		{" bytes=7- ", 7, true},
		{"bytes=0-99", 0, false},
		{"bytes=-500", 0, false},
		{"bytes=1-,5-", 0, false},
		{"bytes=+1-", 0, false},
		{"items=1-", 0, false},
		{"", 0, false},
	} {
		start, ok := rangeStart(tc.header)
		if start != tc.start || ok != tc.ok {
			t.Errorf("rangeStart(%q) = %d, %v; want %d, %v", tc.header, start, ok, tc.start, tc.ok)
		}
	}
}

func TestIfNoneMatchComparesWeakly(t *testing.T) {
	for _, tc := range []struct {
		header, etag string
		want         bool
	}{
		{`"abc"`, `"abc"`, true},
		{`W/"abc"`, `"abc"`, true},
		{`"abc"`, `W/"abc"`, true},
		{`"x", W/"abc"`, `W/"abc"`, true},
		{`"abd"`, `"abc"`, false},
	} {
		if got := etagMatches(tc.header, tc.etag); got != tc.want {
			t.Errorf("etagMatches(%q, %q) = %v, want %v", tc.header, tc.etag, got, tc.want)
		}
		if got := namesCopy(tc.header, tc.etag); got != tc.want {
			t.Errorf("namesCopy(%q, %q) = %v, want %v", tc.header, tc.etag, got, tc.want)
		}
	}
	if namesCopy("*", `"abc"`) {
		t.Errorf(`"*" names a copy`)
	}
}
