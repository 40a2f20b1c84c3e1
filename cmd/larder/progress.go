package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// progressBar shows how far a long subcommand has come on standard error:
// one line redrawn in place on a terminal (a bar, items and bytes done of
// their totals, and the time left at the rate so far), a plain line every
// few seconds otherwise, for a log that a person or a CI job reads later.
type progressBar struct {
	w     io.Writer
	tty   bool
	label string // what is done: "export"
	items string // what is counted: "blobs"
	every time.Duration
	start time.Time
	last  time.Time
	now   func() time.Time
	p     storage.Progress
	drawn int // width of the line on the terminal; 0 before the first draw
	lines int // lines written when not a terminal
}

func newProgressBar(c console, label, items string) *progressBar {
	every := 5 * time.Second
	if c.tty {
		every = 100 * time.Millisecond
	}
	now := time.Now()
	return &progressBar{w: c.err, tty: c.tty, label: label, items: items, every: every, start: now, last: now, now: time.Now}
}

func (b *progressBar) update(p storage.Progress) {
	b.p = p
	if now := b.now(); now.Sub(b.last) >= b.every {
		b.last = now
		b.draw()
	}
}

func (b *progressBar) line() string {
	p := b.p
	var parts []string
	switch {
	case p.TotalItems > 0:
		parts = append(parts, fmt.Sprintf("%d/%d %s", p.Items, p.TotalItems, b.items))
	case p.Items > 0:
		parts = append(parts, fmt.Sprintf("%d %s", p.Items, b.items))
	}
	if p.TotalBytes > 0 {
		parts = append(parts, fmt.Sprintf("%s / %s", formatBytes(p.Bytes), formatBytes(p.TotalBytes)))
	} else {
		parts = append(parts, formatBytes(p.Bytes))
	}
	if left, ok := b.left(); ok {
		parts = append(parts, formatLeft(left)+" left")
	}
	pct := ""
	if f, ok := b.fraction(); ok {
		pct = fmt.Sprintf(" %3d%%", int(f*100))
	}
	return b.label + pct + " " + strings.Join(parts, ", ")
}

// fraction is the share done, by bytes when their total is known, else by
// items.
func (b *progressBar) fraction() (float64, bool) {
	p := b.p
	switch {
	case p.TotalBytes > 0:
		return min(float64(p.Bytes)/float64(p.TotalBytes), 1), true
	case p.TotalItems > 0:
		return min(float64(p.Items)/float64(p.TotalItems), 1), true
	}
	return 0, false
}

// left estimates the time left at the rate so far, once there is a rate
// worth extrapolating (a second in, something done).
func (b *progressBar) left() (time.Duration, bool) {
	f, ok := b.fraction()
	elapsed := b.now().Sub(b.start)
	if !ok || f <= 0 || f >= 1 || elapsed < time.Second {
		return 0, false
	}
	return time.Duration(float64(elapsed) * (1 - f) / f), true
}

// formatLeft rounds a time left to what a person reads: 45s, 3m20s, 2h05m.
func formatLeft(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

func (b *progressBar) draw() {
	if !b.tty {
		fmt.Fprintln(b.w, b.line())
		b.lines++
		return
	}
	const width = 30
	filled := width
	if f, ok := b.fraction(); ok {
		filled = int(f * width)
	}
	s := "[" + strings.Repeat("=", filled) + strings.Repeat(" ", width-filled) + "] " + b.line()
	pad := max(b.drawn-len(s), 0)
	fmt.Fprint(b.w, "\r"+s+strings.Repeat(" ", pad))
	b.drawn = len(s)
}

// finish shows the final state and ends the line on a terminal that has
// shown the bar; elsewhere the summary that follows says it all.
func (b *progressBar) finish() {
	if b.tty && b.drawn > 0 {
		b.draw()
		fmt.Fprintln(b.w)
	}
}
