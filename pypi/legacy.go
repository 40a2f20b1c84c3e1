package pypi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/larder-mirror/larder/registries"
)

// The legacy JSON API (/pypi/{project}/json, /pypi/{project}/{version}/json)
// is what some tools read besides the simple API. larder caches the
// upstream's document and rewrites every file URL to itself.

// legacyFile is the part of a file entry larder reads.
type legacyFile struct {
	Filename string            `json:"filename"`
	URL      string            `json:"url"`
	Digests  map[string]string `json:"digests"`
}

func (g *Registry) serveLegacyJSON(w http.ResponseWriter, r *http.Request, name string, version []string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	project := Normalize(name)
	rel := project + "/json"
	if len(version) == 1 {
		if !validVersion(version[0]) {
			return errors.Join(errBadName, errors.New("bad version"))
		}
		rel = project + "/" + version[0] + "/json"
	}
	if g.legacy == nil {
		return registries.ErrNotFound
	}
	doc, err := g.up.Document(r.Context(), registries.DocRequest{
		Key: "json/" + rel, Variant: "legacy", Package: project, URL: g.legacy.String() + rel, Accept: "application/json",
		Prepare: func(body []byte, ct string) (registries.Prepared, error) {
			var d struct {
				Info     json.RawMessage         `json:"info"`
				URLs     []legacyFile            `json:"urls"`
				Releases map[string][]legacyFile `json:"releases"`
			}
			if err := json.Unmarshal(body, &d); err != nil {
				return registries.Prepared{}, err
			}
			if len(d.Info) == 0 {
				return registries.Prepared{}, errors.New("legacy JSON without info")
			}
			var files []File
			add := func(fs []legacyFile) {
				for _, f := range fs {
					files = append(files, File{Filename: f.Filename, URL: f.URL, Hashes: lowerHashes(f.Digests)})
				}
			}
			add(d.URLs)
			for _, fs := range d.Releases {
				add(fs)
			}
			files = g.acceptFiles(project, files)
			return registries.Prepared{Body: body, ContentType: "application/json", Artifacts: g.announce(project, files)}, nil
		},
	})
	if err != nil {
		return err
	}
	base := g.baseURL(r)
	key := strings.Join([]string{g.name, "legacy", rel, string(doc.Body), base}, "\x00")
	rendered, err := g.up.Env().Renders.Get(key, func() (*registries.Rendered, error) {
		body, err := g.up.Body(r.Context(), doc.Document)
		if err != nil {
			return nil, err
		}
		out, err := rewriteLegacy(body, base+"files/"+project+"/")
		if err != nil {
			return nil, err
		}
		return registries.NewRendered(out, "application/json"), nil
	})
	if err != nil {
		return err
	}
	g.up.ServeDocument(w, r, rendered, doc.Status, vary)
	return nil
}

// rewriteLegacy points every file URL in a legacy JSON document at larder.
func rewriteLegacy(body []byte, filesBase string) ([]byte, error) {
	var d map[string]json.RawMessage
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, err
	}
	fix := func(raw json.RawMessage) (json.RawMessage, error) {
		var files []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &files); err != nil {
			return nil, err
		}
		for _, f := range files {
			var name string
			json.Unmarshal(f["filename"], &name)
			if validateFilename(name) != nil {
				continue
			}
			f["url"], _ = json.Marshal(filesBase + name)
		}
		return json.Marshal(files)
	}
	if raw, ok := d["urls"]; ok {
		fixed, err := fix(raw)
		if err != nil {
			return nil, err
		}
		d["urls"] = fixed
	}
	if raw, ok := d["releases"]; ok {
		var rels map[string]json.RawMessage
		if err := json.Unmarshal(raw, &rels); err != nil {
			return nil, err
		}
		for v, files := range rels {
			fixed, err := fix(files)
			if err != nil {
				return nil, err
			}
			rels[v] = fixed
		}
		d["releases"], _ = json.Marshal(rels)
	}
	return json.Marshal(d)
}

func validVersion(v string) bool {
	if v == "" || len(v) > 128 || v == "." || v == ".." {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-_+!", c) >= 0) {
			return false
		}
	}
	return true
}
