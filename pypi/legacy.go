package pypi

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
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
	// UploadTime dates the file (see fileRelease).
	UploadTime string `json:"upload_time_iso_8601"`
}

// legacyRel is the project and the path below the legacy API of
// /pypi/{name}/json or /pypi/{name}/{version}/json.
func legacyRel(name string, version []string) (project, rel string, err error) {
	if err := ValidateName(name); err != nil {
		return "", "", err
	}
	project = Normalize(name)
	rel = project + "/json"
	if len(version) == 1 {
		if !validVersion(version[0]) {
			return "", "", errors.Join(errBadName, errors.New("bad version"))
		}
		rel = project + "/" + version[0] + "/json"
	}
	return project, rel, nil
}

const legacyVariant = "legacy"

func legacyKey(rel string) string { return "json/" + rel }

// legacyView is a legacy JSON document with its file URLs pointing at
// larder.
func (g *Registry) legacyView(ctx context.Context, project, rel, base string) (*registries.Rendered, registries.CacheStatus, error) {
	if g.legacy == nil {
		return nil, "", registries.ErrNotFound
	}
	doc, err := g.up.Document(ctx, registries.DocRequest{
		Key: legacyKey(rel), Variant: legacyVariant, Package: project, URL: g.legacy.String() + rel, Accept: "application/json",
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
			arts := g.announce(project, files)
			changed, err := g.up.Pins(context.Background(), project, arts)
			if err != nil {
				return registries.Prepared{}, err
			}
			if len(changed) > 0 {
				if body, err = g.pinLegacy(context.Background(), body, project, changed); err != nil {
					return registries.Prepared{}, err
				}
			}
			return registries.Prepared{Body: body, ContentType: "application/json", Artifacts: arts}, nil
		},
	})
	if err != nil {
		return nil, "", err
	}
	// While the upstream cannot be asked, only held files are listed, as
	// on the simple pages.
	held, heldKey, err := g.up.HeldView(ctx, project, doc.Degraded)
	if err != nil {
		return nil, "", err
	}
	allowed, ageKey, err := g.allowedFiles(ctx, g.up.Cutoff(ctx, project), project, "legacy\x00"+string(doc.Body), g.legacyFiles(ctx, doc.Document, project))
	if err != nil {
		return nil, "", err
	}
	key := strings.Join([]string{g.name, "legacy", rel, string(doc.Body), base, heldKey, ageKey}, "\x00")
	rendered, err := g.up.Env().Renders.Get(ctx, key, func() (*registries.Rendered, error) {
		body, err := g.up.Body(ctx, doc.Document)
		if err != nil {
			return nil, err
		}
		var keep func(filename string) bool
		if held != nil || allowed != nil {
			keep = func(filename string) bool {
				return (held == nil || held[filePath(project, filename)]) && (allowed == nil || allowed[filename])
			}
		}
		out, err := rewriteLegacy(body, base+"files/"+project+"/", keep)
		if err != nil {
			return nil, err
		}
		return registries.NewRendered(out, "application/json"), nil
	})
	if err != nil {
		return nil, "", err
	}
	return rendered, doc.Status, nil
}

// rewriteLegacy points every file URL in a legacy JSON document at larder,
// leaving out the files keep refuses when it is set. When that leaves the
// release info.version names without a file (held back by the release-age
// cutoff, or not held offline), info.version and urls name the newest
// release that has some left: what tools read as the latest is one they
// can install.
func rewriteLegacy(body []byte, filesBase string, keep func(filename string) bool) ([]byte, error) {
	var d map[string]json.RawMessage
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, err
	}
	fix := func(raw json.RawMessage) (json.RawMessage, error) {
		var files []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &files); err != nil {
			return nil, err
		}
		kept := files[:0]
		for _, f := range files {
			var name string
			json.Unmarshal(f["filename"], &name)
			if keep != nil && !keep(name) {
				continue
			}
			if validateFilename(name) == nil {
				f["url"], _ = json.Marshal(filesBase + name)
			}
			kept = append(kept, f)
		}
		return json.Marshal(kept)
	}
	urlsEmptied := false
	if raw, ok := d["urls"]; ok {
		fixed, err := fix(raw)
		if err != nil {
			return nil, err
		}
		urlsEmptied = string(fixed) == "[]" && !emptyList(raw)
		d["urls"] = fixed
	}
	if raw, ok := d["releases"]; ok {
		var rels map[string]json.RawMessage
		if err := json.Unmarshal(raw, &rels); err != nil {
			return nil, err
		}
		newest := ""
		for v, files := range rels {
			fixed, err := fix(files)
			if err != nil {
				return nil, err
			}
			rels[v] = fixed
			if string(fixed) != "[]" && (newest == "" || compareVersions(v, newest) > 0) {
				newest = v
			}
		}
		d["releases"], _ = json.Marshal(rels)
		if keep != nil && urlsEmptied && newest != "" {
			if err := renameLatest(d, newest, rels[newest]); err != nil {
				return nil, err
			}
		}
	}
	return json.Marshal(d)
}

func emptyList(raw json.RawMessage) bool {
	var l []json.RawMessage
	return json.Unmarshal(raw, &l) == nil && len(l) == 0
}

// renameLatest makes a legacy document's info.version and urls name
// version and its files.
func renameLatest(d map[string]json.RawMessage, version string, files json.RawMessage) error {
	var info map[string]json.RawMessage
	if raw, ok := d["info"]; ok {
		if err := json.Unmarshal(raw, &info); err != nil {
			return err
		}
	}
	if info == nil {
		info = map[string]json.RawMessage{}
	}
	info["version"], _ = json.Marshal(version)
	d["info"], _ = json.Marshal(info)
	d["urls"] = files
	return nil
}

// pinLegacy names, in every entry of a legacy JSON document for a file
// larder holds under a pin (changed, by artifact path), the held bytes
// instead of what the upstream declares, as the simple pages do: the pinned
// hashes, sha256 always (poetry reads digests.sha256 and nothing else), the
// md5 of the held bytes in digests and md5_digest, their size, and no other
// digest (blake2b_256 cannot be computed here, so it is dropped rather than
// left naming other bytes).
func (g *Registry) pinLegacy(ctx context.Context, body []byte, project string, changed map[string]string) ([]byte, error) {
	var d map[string]json.RawMessage
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, err
	}
	facts := map[string]*heldFacts{}
	fix := func(raw json.RawMessage) (json.RawMessage, error) {
		var files []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &files); err != nil {
			return nil, err
		}
		for _, f := range files {
			var name string
			json.Unmarshal(f["filename"], &name)
			path := filePath(project, name)
			pinned, ok := changed[path]
			if !ok || validateFilename(name) != nil {
				continue
			}
			h := facts[path]
			if h == nil {
				h = g.heldFacts(ctx, path)
				facts[path] = h
			}
			digests := pinnedHashes(registries.Integrity(pinned))
			if h.sha256 != "" {
				digests["sha256"] = h.sha256
			}
			if h.md5 != "" {
				digests["md5"] = h.md5
				f["md5_digest"], _ = json.Marshal(h.md5)
			} else {
				delete(f, "md5_digest")
			}
			f["digests"], _ = json.Marshal(digests)
			if h.size > 0 {
				f["size"], _ = json.Marshal(h.size)
			}
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

// heldFacts is what larder knows of the bytes it holds for a file.
type heldFacts struct {
	sha256, md5 string
	size        int64
}

// heldFacts reads the held bytes of path for their md5. What cannot be read
// is left empty, and so left out of the document: a digest larder cannot
// vouch for is worse than none.
func (g *Registry) heldFacts(ctx context.Context, path string) *heldFacts {
	a, err := g.up.Artifact(ctx, path)
	if err != nil || !a.Cached() {
		return &heldFacts{}
	}
	h := &heldFacts{sha256: string(a.SHA256), size: a.Size}
	rc, _, err := g.up.Store().OpenArtifact(ctx, a.SHA256, a.Size)
	if err != nil {
		g.up.Env().Log.Warn("cannot read a held file for its md5; the legacy JSON leaves it out", "registry", g.name, "path", path, "err", err)
		return h
	}
	defer rc.Close()
	m := md5.New()
	if _, err := io.Copy(m, rc); err != nil {
		g.up.Env().Log.Warn("cannot read a held file for its md5; the legacy JSON leaves it out", "registry", g.name, "path", path, "err", err)
		return h
	}
	h.md5 = hex.EncodeToString(m.Sum(nil))
	return h
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
