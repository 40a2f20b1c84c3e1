package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/larder-mirror/larder/registries"
)

// A traffic chart is drawn here, as inline SVG: stacked bars of requests
// answered from the cache and from the upstream, with a title on each bar
// for the exact counts. No script draws it and nothing is loaded for it;
// the stylesheet colours it.

// chartSpec is one chart: n bars of step each, ending now.
type chartSpec struct {
	Name  string // "day", "week": the JSON key and the element's id suffix
	Title string
	Step  time.Duration
	Bars  int
	Since string // the label under the left end
}

var charts = []chartSpec{
	{Name: "day", Title: "Last 24 hours", Step: 30 * time.Minute, Bars: 48, Since: "24 h ago"},
	{Name: "week", Title: "Last 7 days", Step: 3 * time.Hour, Bars: 56, Since: "7 days ago"},
}

// seriesView is one chart's numbers, for the API and the page.
type seriesView struct {
	Step   string        `json:"step"` // a Go duration, e.g. "30m0s"
	Points []pointView   `json:"points"`
	SVG    template.HTML `json:"-"`
}

type pointView struct {
	Start    jsonTime `json:"start"`
	Cached   int64    `json:"cached"`
	Upstream int64    `json:"upstream"`
}

func newSeries(tr *registries.Traffic, spec chartSpec, now time.Time, id string) seriesView {
	totals := tr.Series(now, spec.Step, spec.Bars)
	end := now.Truncate(time.Minute).Add(time.Minute)
	s := seriesView{Step: spec.Step.String(), Points: make([]pointView, len(totals))}
	for i, t := range totals {
		start := end.Add(-time.Duration(len(totals)-i) * spec.Step)
		s.Points[i] = pointView{Start: stamp(start), Cached: t.Cached, Upstream: t.Upstream}
	}
	s.SVG = drawChart(spec, s.Points, id)
	return s
}

// The chart's geometry, in viewBox units: it scales to its box.
const (
	chartW, chartH = 480.0, 136.0
	plotTop        = 20.0
	plotBottom     = 112.0
)

func drawChart(spec chartSpec, points []pointView, id string) template.HTML {
	var peak, cached, upstream int64
	for _, p := range points {
		peak = max(peak, p.Cached+p.Upstream)
		cached += p.Cached
		upstream += p.Upstream
	}
	var b strings.Builder
	label := fmt.Sprintf("%s: %s requests from the cache, %s from the upstream", spec.Title, formatNum(cached), formatNum(upstream))
	fmt.Fprintf(&b, `<svg class="chart" id="%s" viewBox="0 0 %g %g" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		template.HTMLEscapeString(id), chartW, chartH, template.HTMLEscapeString(label))
	fmt.Fprintf(&b, `<title>%s</title>`, template.HTMLEscapeString(label))
	fmt.Fprintf(&b, `<line class="axis" x1="0" y1="%g" x2="%g" y2="%g"/>`, plotBottom, chartW, plotBottom)
	if peak == 0 {
		fmt.Fprintf(&b, `<text class="none" x="%g" y="%g" text-anchor="middle">no requests</text>`, chartW/2, (plotTop+plotBottom)/2)
	} else {
		fmt.Fprintf(&b, `<text class="peak" x="0" y="15">%s</text>`, formatNum(peak))
		fmt.Fprintf(&b, `<line class="grid" x1="0" y1="%g" x2="%g" y2="%g"/>`, plotTop, chartW, plotTop)
	}
	slot := chartW / float64(len(points))
	width := slot * 0.8
	scale := (plotBottom - plotTop) / float64(max(peak, 1))
	for i, p := range points {
		if p.Cached+p.Upstream == 0 {
			continue
		}
		x := float64(i)*slot + (slot-width)/2
		start := p.Start.UTC()
		fmt.Fprintf(&b, `<g><title>%s–%s UTC: %s from the cache, %s from the upstream</title>`,
			start.Format("Jan 2 15:04"), start.Add(spec.Step).Format("15:04"), formatNum(p.Cached), formatNum(p.Upstream))
		y := plotBottom
		for _, part := range []struct {
			class string
			n     int64
		}{{"cached", p.Cached}, {"upstream", p.Upstream}} {
			if part.n == 0 {
				continue
			}
			h := float64(part.n) * scale
			y -= h
			fmt.Fprintf(&b, `<rect class="%s" x="%.2f" y="%.2f" width="%.2f" height="%.2f"/>`, part.class, x, y, width, h)
		}
		b.WriteString(`</g>`)
	}
	fmt.Fprintf(&b, `<text class="tick" x="0" y="%g">%s</text>`, chartH-4, spec.Since)
	fmt.Fprintf(&b, `<text class="tick" x="%g" y="%g" text-anchor="end">now</text>`, chartW, chartH-4)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
