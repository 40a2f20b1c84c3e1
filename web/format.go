package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// assets are the embedded static files with a short digest of each, so
// that their URLs change with their content and can be cached for good.
var assets = func() map[string]string {
	m := map[string]string{}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := staticFS.ReadFile("static/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		m[e.Name()] = hex.EncodeToString(sum[:6])
	}
	return m
}()

// assetPath is an asset's URL path (without the prefix), versioned.
func assetPath(name string) (string, error) {
	v, ok := assets[name]
	if !ok {
		return "", fmt.Errorf("no asset %q", name)
	}
	return "/static/" + name + "?v=" + v, nil
}

var assetTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	v, ok := assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, _ := staticFS.ReadFile("static/" + name)
	w.Header().Set("Content-Type", assetTypes[path.Ext(name)])
	if r.URL.Query().Get("v") == v {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	w.Header().Set("ETag", `"`+v+`"`)
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(string(b)))
}

func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": assetPath,
		"bytes": formatBytes,
		"num":   formatNum,
		"ratio": formatRatio,
		"ago":   func(t jsonTime) string { return formatAgo(t.Time, h.now()) },
		"abs":   func(t jsonTime) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"iso":   func(t jsonTime) string { return t.UTC().Format(time.RFC3339) },
		"short": func(s string, n int) string {
			if len(s) <= n {
				return s
			}
			return s[:n] + "…"
		},
		"add":   func(a, b int) int { return a + b },
		"int64": func(i int) int64 { return int64(i) },
	}
}

func parsePages(funcs template.FuncMap) map[string]*template.Template {
	pages := map[string]*template.Template{}
	for _, name := range []string{"overview", "registry", "package", "setup", "error"} {
		t := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
		pages[name] = t
	}
	return pages
}

// formatBytes writes a size in binary units: "0 B", "912 B", "1.4 KiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	prec := 1
	if v >= 100 {
		prec = 0
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + " " + "KMGTPE"[exp:exp+1] + "iB"
}

// formatNum groups thousands: 100000 is "100,000".
func formatNum(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatRatio writes a share as a percentage, or "—" for none.
func formatRatio(r *float64) string {
	if r == nil {
		return "—"
	}
	p := *r * 100
	if (p > 0 && p < 1) || (p > 99 && p < 100) {
		// One decimal near the ends, and never rounded to 0% or 100%.
		s := strconv.FormatFloat(p, 'f', 1, 64)
		switch s {
		case "0.0":
			s = "0.1"
		case "100.0":
			s = "99.9"
		}
		return s + "%"
	}
	return strconv.FormatFloat(p, 'f', 0, 64) + "%"
}

// formatAgo writes how long ago t was, coarsely; "never" for zero.
func formatAgo(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < 90*time.Second:
		s = "1 minute"
	case d < time.Hour:
		s = plural(int(d.Round(time.Minute)/time.Minute), "minute")
	case d < 36*time.Hour:
		s = plural(int(d.Round(time.Hour)/time.Hour), "hour")
	case d < 60*24*time.Hour:
		s = plural(int(d/(24*time.Hour)), "day")
	case d < 2*365*24*time.Hour:
		s = plural(int(d/(30*24*time.Hour)), "month")
	default:
		s = plural(int(d/(365*24*time.Hour)), "year")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
