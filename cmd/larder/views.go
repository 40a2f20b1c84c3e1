package main

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/larder-mirror/larder/registries"
)

// viewHandler serves /@{label}/{registry}/…: a registry as of a moment
// (registries.View), through the same mount as /{registry}/…, with the view
// in the request's context. It never takes the quick path, whose answers
// know no view.
func viewHandler(regs []registries.Registry) http.Handler {
	mounts := map[string]*registries.Mounted{}
	kindOf := map[string]string{}
	for _, r := range regs {
		mounts[r.Name()], kindOf[r.Name()] = registries.Mount(r), r.Kind()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.EscapedPath(), "/@")
		escLabel, rest, _ := strings.Cut(rest, "/")
		name, _, hasSlash := strings.Cut(rest, "/")
		label, err := url.PathUnescape(escLabel)
		if err != nil {
			http.Error(w, "malformed view: "+err.Error(), http.StatusBadRequest)
			return
		}
		view, err := registries.ParseView(label)
		if err != nil {
			http.Error(w, "/@"+label+"/: "+err.Error(), http.StatusBadRequest)
			return
		}
		m := mounts[name]
		if m == nil {
			http.Error(w, "/@"+label+"/"+name+"/: no registry is mounted as "+name, http.StatusNotFound)
			return
		}
		if k, ok := kindNamed(kindOf[name]); !ok || !k.DatesReleases {
			http.Error(w, "/@"+label+"/"+name+"/: kind "+kindOf[name]+" does not date its releases, so this registry has no view as of a date", http.StatusNotFound)
			return
		}
		prefix := "/@" + escLabel + "/" + name
		if !hasSlash {
			http.Redirect(w, r, prefix+"/", http.StatusMovedPermanently)
			return
		}
		r2 := r.WithContext(registries.WithView(r.Context(), view))
		u := *r.URL
		u.Path = strings.TrimPrefix(u.Path, "/@"+label+"/"+name)
		u.RawPath = strings.TrimPrefix(u.RawPath, prefix)
		r2.URL = &u
		m.ServeHTTP(w, r2)
	})
}
