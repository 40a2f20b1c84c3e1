package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// ready answers /readyz: 200 when larder can serve and keep what it
// fetches (storage.Store.Ready says what that takes), 503 with the reason
// otherwise. A change of state is logged once, not on every probe.
func (a *app) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	w.Header().Set("Cache-Control", "no-store")
	err := a.store.Ready(ctx, storage.ReadyOptions{MinFree: a.minFree})
	if err == nil {
		if a.notReady.Swap(false) {
			a.log.Info("ready again")
		}
		if a.store.ReadOnly() {
			io.WriteString(w, "ready (read-only: serving what the data folder holds)\n")
			return
		}
		io.WriteString(w, "ready\n")
		return
	}
	if r.Context().Err() != nil {
		return // the prober left; its time-out says nothing about larder
	}
	var low *storage.LowSpaceError
	if errors.As(err, &low) {
		err = fmt.Errorf("free space: %s left in the data folder, below min_free_space (%s)", formatBytes(low.Free), formatBytes(low.Floor))
	}
	if !a.notReady.Swap(true) {
		a.log.Warn("not ready", "reason", err)
	}
	http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
}

// reportCorrupt is told, once, that SQLite found the database damaged.
func (a *app) reportCorrupt(err error) {
	a.log.Error("the database is corrupt: larder answers 500 where it needs it, and /readyz fails; "+
		"stop larder, move larder.db aside and restore it (from a backup, or by importing an export into a new data folder)",
		"err", err, "data", a.cfg.Data)
}
