package npm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"sort"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

const (
	variantFull        = "full"
	variantAbbreviated = "abbreviated"

	mediaAbbreviated = "application/vnd.npm.install-v1+json"
	mediaJSON        = "application/json"
)

// checkDocument accepts only a JSON object. An error page, an HTML page from
// a captive portal or a truncated body must never be cached.
func checkDocument(body []byte, contentType string) error {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && strings.Contains(mt, "html") {
		return fmt.Errorf("upstream sent %s, not JSON", mt)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("upstream document is not a JSON object")
	}
	if !gjson.ValidBytes(body) {
		return errors.New("upstream document is not valid JSON (truncated?)")
	}
	return nil
}

// abbreviatedFields are the per-version fields of the abbreviated ("corgi")
// form: what an installer needs, plus libc, which the registry's own form
// lacks and pnpm reads.
var abbreviatedFields = [...]string{
	"name", "version", "deprecated",
	"dependencies", "optionalDependencies", "devDependencies", "peerDependencies",
	"peerDependenciesMeta", "bundleDependencies", "bundledDependencies", "acceptDependencies",
	"bin", "directories", "dist", "engines", "_hasShrinkwrap", "hasInstallScript",
	"os", "cpu", "libc", "funding", "license",
}

// abbreviate derives the abbreviated form from a packument. It is
// idempotent: an abbreviated document comes back as it was, so larder runs
// every upstream answer to an abbreviated request through it, whatever the
// upstream (or an intermediary) chose to send. Unlike the registry's own
// abbreviated form it keeps `time`, so pnpm need not fetch the full document.
func abbreviate(full []byte) []byte {
	// A view of full, not a copy (gjson.ParseBytes copies it): what is
	// read from it is written to b before abbreviate returns, and full is
	// not changed meanwhile.
	doc := gjson.Parse(unsafe.String(unsafe.SliceData(full), len(full)))
	var b bytes.Buffer
	b.Grow(len(full) / 3)
	b.WriteByte('{')
	first := true
	key := func(k string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
	}
	field := func(k, raw string) {
		key(k)
		b.WriteString(raw)
	}
	top := topLevelFields(doc)
	if v := top.name; v.Exists() {
		field("name", v.Raw)
	}
	if v := top.modified; v.Exists() {
		field("modified", v.Raw)
	} else if v := top.timeModified; v.Exists() {
		field("modified", v.Raw)
	}
	if v := top.distTags; v.Exists() {
		field("dist-tags", v.Raw)
	}
	if v := top.time; v.IsObject() {
		field("time", v.Raw)
	}
	if versions := top.versions; versions.IsObject() {
		// Straight into b: the versions are most of the document.
		key("versions")
		b.WriteByte('{')
		n := 0
		versions.ForEach(func(k, v gjson.Result) bool {
			if n > 0 {
				b.WriteByte(',')
			}
			n++
			b.WriteString(k.Raw)
			b.WriteByte(':')
			writeAbbreviatedVersion(&b, v)
			return true
		})
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes()
}

// packumentTop is the first occurrence of each top-level field abbreviate
// keeps, as gjson's Get finds it.
type packumentTop struct {
	name, modified, distTags, time, versions gjson.Result
	// timeModified is Get("time.modified"): the first "modified" of the
	// first "time" object that has one.
	timeModified gjson.Result
}

// topLevelFields reads doc's top-level keys once. A Get for each field
// walked the document from its start: past every version for the fields
// that follow them (the registry puts "modified" last) and to its end for
// one it lacks ("time" in the registry's abbreviated form).
func topLevelFields(doc gjson.Result) packumentTop {
	var top packumentTop
	if !doc.IsObject() {
		return top
	}
	doc.ForEach(func(k, v gjson.Result) bool {
		var slot *gjson.Result
		switch k.String() {
		case "name":
			slot = &top.name
		case "modified":
			slot = &top.modified
		case "dist-tags":
			slot = &top.distTags
		case "time":
			if !top.timeModified.Exists() && v.IsObject() {
				top.timeModified = v.Get("modified")
			}
			slot = &top.time
		case "versions":
			slot = &top.versions
		default:
			return true
		}
		if !slot.Exists() {
			*slot = v
		}
		return true
	})
	return top
}

// abbreviatedField is the index of each of abbreviatedFields.
var abbreviatedField = func() map[string]int {
	m := make(map[string]int, len(abbreviatedFields))
	for i, f := range abbreviatedFields {
		m[f] = i
	}
	return m
}()

// writeAbbreviatedVersion writes the fields of v an installer needs, in
// the order of abbreviatedFields, each as its first occurrence in v (as
// gjson's Get reads it). One pass over v's keys: a lookup of each field
// walked the whole version once per field, which on a registry's
// packument of hundreds of versions was most of abbreviating it.
func writeAbbreviatedVersion(b *bytes.Buffer, v gjson.Result) {
	b.WriteByte('{')
	if !v.IsObject() {
		b.WriteByte('}')
		return
	}
	var found [len(abbreviatedFields)]gjson.Result
	var scripts gjson.Result
	v.ForEach(func(k, x gjson.Result) bool {
		key := k.String()
		if i, ok := abbreviatedField[key]; ok {
			if !found[i].Exists() {
				found[i] = x
			}
		} else if key == "scripts" && !scripts.Exists() {
			scripts = x
		}
		return true
	})
	n := 0
	for i, x := range found {
		if !x.Exists() {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteByte('"')
		b.WriteString(abbreviatedFields[i])
		b.WriteString(`":`)
		b.WriteString(x.Raw)
	}
	// The registry derives hasInstallScript from the scripts a version runs
	// on install; a full document only has the scripts.
	if !found[abbreviatedField["hasInstallScript"]].Exists() {
		if scripts.Get("preinstall").Exists() || scripts.Get("install").Exists() || scripts.Get("postinstall").Exists() {
			if n > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"hasInstallScript":true`)
		}
	}
	b.WriteByte('}')
}

// gjsonKey escapes a literal key for a gjson path.
func gjsonKey(k string) string {
	var b strings.Builder
	for _, c := range k {
		if strings.ContainsRune(`.*?|#@\!=<>%`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// tarballResolver decides where larder fetches a tarball a document names:
// from the upstream, as named, when the URL is on the upstream's host; from
// the upstream at the same path when it is on one of tarball_hosts (the
// upstream is a relay that left the public registry's URLs in place); and
// nowhere otherwise, so that a document can never make larder an open proxy.
type tarballResolver struct {
	upstream *url.URL
	hosts    []*url.URL
}

func (t tarballResolver) resolve(raw string) (string, error) {
	u, err := t.upstream.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("tarball URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("tarball URL %q: scheme %q", raw, u.Scheme)
	}
	if u.User != nil {
		return "", fmt.Errorf("tarball URL %q: has user info", raw)
	}
	u.Fragment, u.RawFragment = "", ""
	if registries.SameHost(u, t.upstream) {
		return u.String(), nil
	}
	for _, h := range t.hosts {
		if strings.EqualFold(u.Host, h.Host) {
			rel := &url.URL{Path: strings.TrimPrefix(u.Path, "/"), RawPath: strings.TrimPrefix(u.RawPath, "/"), RawQuery: u.RawQuery}
			base := *t.upstream
			if !strings.HasSuffix(base.Path, "/") {
				base.Path += "/"
			}
			return base.ResolveReference(rel).String(), nil
		}
	}
	return "", fmt.Errorf("tarball URL %q: host %s is neither the upstream nor in tarball_hosts", raw, u.Host)
}

// announcedTarballs lists the tarballs a packument names, with where to fetch
// each and the digests it declares. Tarballs on hosts larder may not contact
// are left out (and reported).
func announcedTarballs(name string, body []byte, res tarballResolver) ([]storage.Artifact, []error) {
	// Room for one row a tarball named: growing the slice copied every
	// row again at each doubling, for a packument of hundreds of versions.
	arts := make([]storage.Artifact, 0, bytes.Count(body, []byte(`"tarball"`)))
	var errs []error
	gjson.GetBytes(body, "versions").ForEach(func(k, v gjson.Result) bool {
		version := k.String()
		if !validVersionOrTag(version) {
			errs = append(errs, fmt.Errorf("%s: version %q is not a valid version", name, version))
			return true
		}
		dist := v.Get("dist")
		tarball := dist.Get("tarball").String()
		if tarball == "" {
			return true
		}
		src, err := res.resolve(tarball)
		if err != nil {
			errs = append(errs, err)
			return true
		}
		declared := registries.Integrity(dist.Get("integrity").String())
		if shasum := dist.Get("shasum").String(); shasum != "" {
			declared = declared.Join(registries.SRIFromHex("sha1", shasum))
		}
		arts = append(arts, storage.Artifact{
			Path: tarballPath(name, version), Package: name, Version: version,
			UpstreamURL: src, Integrity: string(declared),
		})
		return true
	})
	return arts, errs
}

// rewriteTarballs points every dist.tarball at larder: base is the registry's
// public base URL, ending in "/". Only the tarball strings change; every other
// byte (signatures, attestations, integrity) passes through untouched.
func rewriteTarballs(body []byte, name, base string) []byte {
	type edit struct {
		start, end int
		repl       []byte
	}
	var edits []edit
	ok := true
	gjson.GetBytes(body, "versions").ForEach(func(k, v gjson.Result) bool {
		t := v.Get("dist.tarball")
		if !t.Exists() {
			return true
		}
		if t.Index <= 0 || t.Index+len(t.Raw) > len(body) || string(body[t.Index:t.Index+len(t.Raw)]) != t.Raw {
			ok = false
			return false
		}
		repl, _ := json.Marshal(base + tarballPath(name, k.String()))
		edits = append(edits, edit{t.Index, t.Index + len(t.Raw), repl})
		return true
	})
	if !ok {
		return rewriteTarballsSlow(body, name, base)
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	out := make([]byte, 0, len(body)+len(edits)*len(base))
	last := 0
	for _, e := range edits {
		out = append(out, body[last:e.start]...)
		out = append(out, e.repl...)
		last = e.end
	}
	return append(out, body[last:]...)
}

// rewriteTarballsSlow is the fallback when gjson cannot give offsets (it
// never should for documents it parsed): decode, edit, encode.
func rewriteTarballsSlow(body []byte, name, base string) []byte {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return body
	}
	var versions map[string]map[string]json.RawMessage
	if json.Unmarshal(doc["versions"], &versions) != nil {
		return body
	}
	for ver, v := range versions {
		var dist map[string]json.RawMessage
		if json.Unmarshal(v["dist"], &dist) != nil {
			continue
		}
		if _, has := dist["tarball"]; has {
			dist["tarball"], _ = json.Marshal(base + tarballPath(name, ver))
			v["dist"], _ = json.Marshal(dist)
		}
	}
	doc["versions"], _ = json.Marshal(versions)
	out, err := json.Marshal(doc)
	if err != nil {
		return body
	}
	return out
}

// pinIntegrity puts the pinned declaration back into the versions whose
// tarball larder already holds under another digest (first seen wins), so
// that clients check the bytes larder serves. changed maps tarball paths to
// the pinned integrity. No digest of other bytes is left beside the pin:
// npm checks dist.integrity, older clients dist.shasum, so a shasum the pin
// cannot vouch for is dropped and an integrity the upstream left out is
// added. Only the dist object of such a version is re-encoded.
func pinIntegrity(body []byte, name string, changed map[string]string) []byte {
	type edit struct {
		start, end int
		repl       []byte
	}
	var edits []edit
	gjson.GetBytes(body, "versions").ForEach(func(k, v gjson.Result) bool {
		pinned, ok := changed[tarballPath(name, k.String())]
		if !ok {
			return true
		}
		d := v.Get("dist")
		if !d.IsObject() || d.Index <= 0 || d.Index+len(d.Raw) > len(body) || string(body[d.Index:d.Index+len(d.Raw)]) != d.Raw {
			return true
		}
		var dist map[string]json.RawMessage
		if json.Unmarshal([]byte(d.Raw), &dist) != nil {
			return true
		}
		decl := registries.Integrity(pinned)
		integrity := decl.Without("sha1")
		if integrity == "" {
			integrity = decl // a sha1 pin is still a valid integrity
		}
		dist["integrity"], _ = json.Marshal(string(integrity))
		if sha1 := decl.HexDigest("sha1"); sha1 != "" {
			dist["shasum"], _ = json.Marshal(sha1)
		} else {
			delete(dist, "shasum")
		}
		repl, err := json.Marshal(dist)
		if err != nil {
			return true
		}
		edits = append(edits, edit{d.Index, d.Index + len(d.Raw), repl})
		return true
	})
	sort.Slice(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	out := make([]byte, 0, len(body))
	last := 0
	for _, e := range edits {
		out = append(out, body[last:e.start]...)
		out = append(out, e.repl...)
		last = e.end
	}
	return append(out, body[last:]...)
}
